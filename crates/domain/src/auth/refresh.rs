//! The refresh grant (rotation, with reuse revoking the session) and logout.

use super::*;
use crate::audit::AuditEventId;
use crate::id::ClientId;
use crate::oauth::audience::{ApiTokenError, Audience};
use crate::ports::{GrantedAccess, RotationRecord, SessionTokens};

#[derive(Debug, thiserror::Error)]
pub enum RefreshGrantError {
    /// Unknown, expired or revoked refresh token, or its account is gone or disabled.
    #[error("invalid refresh token")]
    Invalid,
    /// The token had already been used: its session is now revoked.
    #[error("refresh token reused; session revoked")]
    Reused,
    /// A scope beyond the session's was asked for.
    #[error(transparent)]
    Scope(#[from] ScopeError),
    /// A `resource` the session holds no grant for, or an API it can no longer have a
    /// token for (RFC 8707 `invalid_target`).
    #[error("{0}")]
    Target(&'static str),
    /// A scope of a registered API beyond the session's grant.
    #[error("{0}")]
    ApiScope(String),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

impl AuthService {
    /// The OAuth2 refresh grant: rotate the refresh token and issue a new pair. `scope` may
    /// narrow the session's scopes for the new access token, never widen them. A session an
    /// authorization code opened refreshes only for its client (`client`, which the
    /// caller authenticated). A token that
    /// was already used revokes its session, whatever else the request carries: replay is
    /// judged before the scope is even read.
    #[tracing::instrument(skip_all)]
    pub async fn refresh_grant(
        &self,
        refresh: &SecretString,
        scope: Option<&str>,
        resources: &[String],
        client: Option<&ClientId>,
        caller: Caller,
    ) -> Result<SessionTokens, RefreshGrantError> {
        let now = self.clock.now();
        let old = self.opaque.digest(refresh);
        let next = self.opaque.generate();
        let requested = scope.map(str::trim).filter(|s| !s.is_empty());
        // A bad scope is refused before rotating, so the caller's refresh token stays
        // usable; only a current token presented by its own caller gets that far (a stale
        // one goes on to `rotate`, which tells a replay from a stranger, and one presented
        // by another caller to the binding below, which ends its session: a probe with a
        // stolen token is judged by who presents it before anything it asks for).
        let own = self.apis.as_ref().map_or("", |(_, own)| own.as_str());
        // Which token the request is for (and its scope) is judged on the session before
        // the rotation, when it names either; without them, every session has a token.
        if requested.is_some() || !resources.is_empty() {
            match self.sessions.find_by_refresh(&old).await? {
                Some(session) if session.is_live(now) && presented_by_own(&session, client) => {
                    match crate::oauth::audience::choose(&session.resources, resources, own) {
                        Err(reason) => return Err(RefreshGrantError::Target(reason)),
                        Ok(Audience::Own) => {
                            if let Some(raw) = requested {
                                let asked = ScopeSet::parse(raw)?;
                                if let Some(extra) =
                                    asked.iter().find(|s| !session.scopes.contains(*s))
                                {
                                    return Err(ScopeError::NotAllowed(extra).into());
                                }
                            }
                        }
                        Ok(Audience::Api(grant)) => {
                            if let Err(name) = crate::apis::narrow(&grant.scopes, requested) {
                                return Err(RefreshGrantError::ApiScope(format!(
                                    "scope `{name}` was not granted for this API"
                                )));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        // The record of the rotation is stored with it: the token rotated is what it
        // records, whatever the checks below then make of the request.
        let record = RotationRecord {
            id: AuditEventId::generate(),
            caller: caller.clone(),
        };
        let rotation = self
            .sessions
            .rotate(
                &old,
                &self.opaque.digest(&next),
                now,
                self.policy.sessions,
                &record,
            )
            .await?;
        if let Rotation::Rotated(rotated) = &rotation {
            self.audit.stored_elsewhere(
                AuditKind::TokenRefreshed,
                Some(rotated.0.user_id),
                None,
                &caller,
            );
        }
        let (session, user) = match rotation {
            Rotation::Rotated(rotated) => *rotated,
            Rotation::Retried(retried) => {
                let (session, user) = *retried;
                self.audit.stored_elsewhere(
                    AuditKind::RefreshRetried,
                    Some(user.id),
                    None,
                    &caller,
                );
                (session, user)
            }
            Rotation::Reused { session, user } => {
                self.audit
                    .record(
                        AuditKind::RefreshTokenReused,
                        Some(user),
                        None,
                        &caller,
                        Some(format!("session {session} revoked")),
                    )
                    .await;
                tracing::warn!(event = "refresh_token_reused", session_id = %session, "refresh token reused: session revoked");
                return Err(RefreshGrantError::Reused);
            }
            Rotation::Lost | Rotation::Invalid => return Err(RefreshGrantError::Invalid),
        };
        // A code-flow session's refresh token is bound to its caller (RFC 6749 §10.4):
        // presented by anyone else, it is taken for stolen and its session ends.
        if !presented_by_own(&session, client) {
            self.sessions
                .revoke(session.user_id, session.id, now)
                .await?;
            self.audit
                .record(
                    AuditKind::RefreshTokenReused,
                    Some(session.user_id),
                    None,
                    &caller,
                    Some(format!(
                        "session {} revoked: presented by another caller",
                        session.id
                    )),
                )
                .await;
            tracing::warn!(event = "refresh_token_reused", session_id = %session.id, "refresh token presented by another caller: session revoked");
            return Err(RefreshGrantError::Invalid);
        }
        if !user.is_active || !session.opened_under(&user) {
            self.sessions
                .revoke(session.user_id, session.id, now)
                .await?;
            return Err(RefreshGrantError::Invalid);
        }
        // The role may have changed since login: never grant what it no longer allows.
        let role = self.policy.mfa.scope_role(user.role, session.amr);
        let access = match crate::oauth::audience::choose(&session.resources, resources, own) {
            Err(reason) => return Err(RefreshGrantError::Target(reason)),
            Ok(Audience::Own) => {
                let scopes: ScopeSet = match requested {
                    Some(raw) => ScopeSet::parse(raw)?,
                    None => session.scopes.clone(),
                }
                .iter()
                .filter(|scope| session.scopes.contains(*scope) && scope.allowed_for(role))
                .collect();
                GrantedAccess::Own(self.tokens.issue(&user, &session, scopes, now)?)
            }
            Ok(Audience::Api(grant)) => {
                let Some((api_tokens, _)) = &self.apis else {
                    return Err(RefreshGrantError::Target(
                        "tokens for registered APIs are not issued here",
                    ));
                };
                let token = api_tokens
                    .issue(&user, role, &session, grant, requested, now)
                    .await
                    .map_err(|error| match error {
                        ApiTokenError::Target(reason) => RefreshGrantError::Target(reason),
                        ApiTokenError::Scope(reason) => RefreshGrantError::ApiScope(reason),
                        ApiTokenError::Token(error) => RefreshGrantError::Token(error),
                        ApiTokenError::Repository(error) => RefreshGrantError::Repository(error),
                    })?;
                GrantedAccess::Api(token)
            }
        };
        tracing::info!(event = "token_refreshed", user_id = %user.id, session_id = %session.id, "tokens refreshed");
        Ok(SessionTokens {
            access,
            refresh: next,
        })
    }

    /// Ends the session the caller's token belongs to: its refresh token and every access
    /// token issued in it stop working at once.
    #[tracing::instrument(skip_all)]
    pub async fn logout(
        &self,
        claims: &AccessClaims,
        caller: &Caller,
    ) -> Result<(), RepositoryError> {
        self.sessions
            .revoke(claims.user_id, claims.session_id, self.clock.now())
            .await?;
        self.audit
            .record(AuditKind::Logout, Some(claims.user_id), None, caller, None)
            .await;
        tracing::info!(event = "logout", user_id = %claims.user_id, session_id = %claims.session_id, "logged out");
        Ok(())
    }
}

/// Whether a refresh token of `session` comes from the client it was issued to: any
/// caller for a session of the password grant, only its client for a code-flow session.
fn presented_by_own(session: &Session, client: Option<&ClientId>) -> bool {
    session.client_id.is_none() || session.client_id.as_ref() == client
}
