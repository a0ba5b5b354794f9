//! What a presented token speaks for: the current user of an access token, token
//! introspection (RFC 7662) and revocation (RFC 7009).

use super::*;

/// What [`AuthService::introspect`] found.
#[derive(Debug)]
pub enum Introspection {
    /// A valid access token.
    Access {
        user: User,
        claims: AccessClaims,
        session: Session,
    },
    /// A current refresh token.
    Refresh {
        user: User,
        session: Session,
    },
    Inactive,
}

#[derive(Debug, thiserror::Error)]
pub enum CurrentUserError {
    /// The token is bad, or no longer speaks for a usable account. The reason is for logs.
    #[error("invalid access token: {0}")]
    InvalidToken(String),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

impl AuthService {
    /// The account behind a bearer token, re-read from storage so that a deleted or
    /// deactivated account, or a changed password, takes effect on the next request.
    /// Every authenticated request runs it: its span is a debug one, so that at the default
    /// level it costs nothing (the request's own span identifies the request).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn resolve_current_user(
        &self,
        token: &str,
    ) -> Result<(User, AccessClaims), CurrentUserError> {
        self.resolve_access(token)
            .await
            .map(|(user, claims, _)| (user, claims))
    }

    /// [`Self::resolve_current_user`] for a request from `caller` (asked for only when
    /// needed): a personal access token's use is recorded, at most once a minute.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn resolve_caller(
        &self,
        token: &str,
        caller: impl FnOnce() -> Caller,
    ) -> Result<(User, AccessClaims), CurrentUserError> {
        let (user, claims, session) = self.resolve_access(token).await?;
        if session.kind == SessionKind::Personal {
            self.record_personal_use(&session, &caller()).await;
        }
        Ok((user, claims))
    }

    /// Records a use of personal access token `session` by `caller` (at most once a
    /// minute; a failure to record is logged, never the request's).
    pub async fn record_personal_use(&self, session: &Session, caller: &Caller) {
        let Some(tokens) = &self.personal else {
            return;
        };
        let now = self.clock.now();
        let gap = crate::personal::USE_RECORD_GAP;
        match tokens
            .record_use(session.id, caller.ip.as_deref(), now, gap)
            .await
        {
            Ok(true) => {
                self.audit
                    .record(
                        AuditKind::PatUsed,
                        Some(session.user_id),
                        None,
                        caller,
                        Some(format!("token {}", session.id)),
                    )
                    .await;
            }
            Ok(false) => {}
            // The request is served all the same: its check has passed.
            Err(error) => {
                tracing::warn!(%error, "could not record a personal access token's use");
            }
        }
    }

    /// A personal access token: found by its digest, then judged as its session, on every
    /// request: live, of an active account, made under its current credential.
    async fn resolve_personal(
        &self,
        token: &str,
    ) -> Result<(User, AccessClaims, Session), CurrentUserError> {
        let refused = |why: &str| CurrentUserError::InvalidToken(why.into());
        let Some(tokens) = &self.personal else {
            return Err(refused("personal access tokens are not accepted here"));
        };
        let digest = self.opaque.digest(&SecretString::from(token.to_owned()));
        let Some(id) = tokens.find(&digest).await? else {
            return Err(refused("unknown personal access token"));
        };
        let Some((session, user)) = self.sessions.find_with_user(id).await? else {
            return Err(refused(
                "personal access token or its user no longer exists",
            ));
        };
        if session.kind != SessionKind::Personal || !session.is_live(self.clock.now()) {
            return Err(refused("personal access token revoked or expired"));
        }
        if !user.is_active {
            return Err(refused("account is disabled"));
        }
        if !session.opened_under(&user) {
            return Err(refused(
                "personal access token made under a password that has since changed",
            ));
        }
        let claims = AccessClaims {
            user_id: user.id,
            session_id: session.id,
            token_id: session.id.as_uuid(),
            issued_at: session.created_at,
            expires_at: session.absolute_expires_at,
            scopes: session.scopes.clone(),
            role: user.role,
            amr: session.amr,
        };
        Ok((user, claims, session))
    }

    /// [`Self::resolve_current_user`], with the session the token belongs to.
    async fn resolve_access(
        &self,
        token: &str,
    ) -> Result<(User, AccessClaims, Session), CurrentUserError> {
        if crate::personal::looks_personal(token) {
            return self.resolve_personal(token).await;
        }
        let claims = self
            .tokens
            .verify(token, self.clock.now())
            .map_err(|error| CurrentUserError::InvalidToken(error.to_string()))?;
        let Some((session, user)) = self.sessions.find_with_user(claims.session_id).await? else {
            return Err(CurrentUserError::InvalidToken(
                "session or user no longer exists".into(),
            ));
        };
        if session.user_id != claims.user_id || !session.is_live(self.clock.now()) {
            return Err(CurrentUserError::InvalidToken(
                "session revoked or expired".into(),
            ));
        }
        if !user.is_active {
            return Err(CurrentUserError::InvalidToken("account is disabled".into()));
        }
        if !session.opened_under(&user) {
            return Err(CurrentUserError::InvalidToken(
                "session opened with a password that has since changed".into(),
            ));
        }
        if claims.issued_at < user.password_changed_at {
            return Err(CurrentUserError::InvalidToken(
                "issued before the last password change".into(),
            ));
        }
        Ok((user, claims, session))
    }

    /// The API session behind a current refresh token, while it and its user may still
    /// be used.
    async fn live_refresh_session(
        &self,
        token: &SecretString,
    ) -> Result<Option<(Session, User)>, RepositoryError> {
        let Some(session) = self
            .sessions
            .find_by_refresh(&self.opaque.digest(token))
            .await?
        else {
            return Ok(None);
        };
        let user = self.users.find_by_id(session.user_id).await?;
        let now = self.clock.now();
        Ok(user
            .filter(|user| {
                session.kind == SessionKind::Api
                    && session.is_live(now)
                    && user.is_active
                    && session.opened_under(user)
            })
            .map(|user| (session, user)))
    }

    /// What a token is worth right now (RFC 7662): an access token passes every check a
    /// request's would; a refresh token must be current, its session live and its user
    /// able to sign in. Anything else, revoked sessions included, is inactive.
    pub async fn introspect(&self, token: &SecretString) -> Result<Introspection, RepositoryError> {
        match self.resolve_access(token.expose_secret()).await {
            Ok((user, claims, session)) => {
                return Ok(Introspection::Access {
                    user,
                    claims,
                    session,
                });
            }
            Err(CurrentUserError::Repository(error)) => return Err(error),
            Err(CurrentUserError::InvalidToken(_)) => {}
        }
        if !crate::ports::is_opaque_token(token.expose_secret()) {
            return Ok(Introspection::Inactive);
        }
        Ok(match self.live_refresh_session(token).await? {
            Some((session, user)) => Introspection::Refresh { user, session },
            None => Introspection::Inactive,
        })
    }

    /// Revokes the session of an access or refresh token (RFC 7009), provided `client`
    /// opened it: a token of another client, or unknown, changes nothing and reports
    /// nothing. Returns whether a session was revoked.
    pub async fn revoke_token(
        &self,
        token: &SecretString,
        client: &crate::oauth::ClientId,
        caller: &Caller,
    ) -> Result<bool, RepositoryError> {
        let session = match self.introspect(token).await? {
            Introspection::Access { session, .. } | Introspection::Refresh { session, .. } => {
                session
            }
            // A refresh token rotated meanwhile (a refresh racing the revocation) still
            // names its session, which must end all the same.
            Introspection::Inactive if crate::ports::is_opaque_token(token.expose_secret()) => {
                match self
                    .sessions
                    .find_by_any_refresh(&self.opaque.digest(token))
                    .await?
                {
                    Some(session) => session,
                    None => return Ok(false),
                }
            }
            Introspection::Inactive => return Ok(false),
        };
        if session.client_id.as_ref() != Some(client) {
            return Ok(false);
        }
        let revoked = self
            .sessions
            .revoke(session.user_id, session.id, self.clock.now())
            .await?;
        if revoked {
            self.audit
                .record(
                    AuditKind::Logout,
                    Some(session.user_id),
                    None,
                    caller,
                    Some(format!("revoked by client {client}")),
                )
                .await;
            tracing::info!(event = "logout", user_id = %session.user_id, session_id = %session.id, client_id = %client, "token revoked: session ended");
        }
        Ok(revoked)
    }
}
