//! Signing in to the hosted pages: a browser session from a password (and a second
//! factor), found again by its cookie, ended by signing out.

use super::*;

/// A browser session just opened, and the cookie that carries it (its only copy).
#[derive(Debug)]
pub struct BrowserSignIn {
    pub session: Session,
    pub cookie: SecretString,
    /// The policy wants this person to enrol in MFA before they get all their role holds.
    pub must_enrol: bool,
}

impl AuthService {
    /// Signs a person in to the hosted pages: the same throttled, audited password check
    /// as the password grant, opening a browser session whose cookie is returned (once), or
    /// [`PasswordGrantError::MfaRequired`] for an account with MFA.
    #[tracing::instrument(skip_all)]
    pub async fn browser_sign_in(
        &self,
        name: &LoginName,
        password: &SecretString,
        caller: Caller,
    ) -> Result<BrowserSignIn, PasswordGrantError> {
        let (user, attempt) = self.login(name, password, &caller).await?;
        let (has_mfa, attempt) = self.has_mfa(&user, attempt).await?;
        if has_mfa {
            self.attempts.abandoned(attempt).await;
            let purpose = ChallengeFor::Browser {
                first: Amr::Password,
                idp: None,
            };
            return Err(self.challenge(&user, purpose).await?);
        }
        let session = Session::start(
            &user,
            ScopeSet::default(),
            caller,
            self.policy.sessions,
            self.clock.now(),
        )
        .in_browser();
        let cookie = self.opaque.generate();
        let created = self
            .sessions
            .create_browser(&session, &self.opaque.digest(&cookie))
            .await;
        self.opened(attempt, created, &user, &session, Some("hosted sign-in"))
            .await?;
        Ok(BrowserSignIn {
            session,
            cookie,
            must_enrol: self.policy.mfa.must_enrol(user.role, false),
        })
    }

    /// The second step of a hosted sign-in: as [`Self::mfa_grant`], opening a browser
    /// session.
    #[tracing::instrument(skip_all)]
    pub async fn browser_mfa(
        &self,
        mfa_token: &SecretString,
        factor: Option<Factor>,
        caller: Caller,
    ) -> Result<BrowserSignIn, MfaGrantError> {
        self.browser_after_second_step(mfa_token, Proof::Code(factor), caller)
            .await
    }

    /// A browser session after a second step proven by `proof`.
    pub(super) async fn browser_after_second_step(
        &self,
        mfa_token: &SecretString,
        proof: Proof,
        caller: Caller,
    ) -> Result<BrowserSignIn, MfaGrantError> {
        let kind = proof.kind();
        let (user, challenge) = self
            .proven_step(mfa_token, proof, &caller, |purpose| {
                SecondStepFlow::Browser.admits(purpose)
            })
            .await?;
        let ChallengeFor::Browser { first, idp } = challenge.purpose else {
            return Err(MfaGrantError::InvalidToken);
        };
        let amr = kind.after(first);
        let session = Session::start(
            &user,
            ScopeSet::default(),
            caller,
            self.policy.sessions,
            self.clock.now(),
        )
        .in_browser()
        .with_amr(amr)
        .with_idp(idp);
        let cookie = self.opaque.generate();
        self.sessions
            .create_browser(&session, &self.opaque.digest(&cookie))
            .await?;
        let detail = format!("hosted sign-in {}", kind.detail());
        self.signed_in(&user, &session, Some(&detail)).await;
        Ok(BrowserSignIn {
            session,
            cookie,
            must_enrol: false,
        })
    }

    /// Signs `user` in to the hosted pages after the upstream `idp` vouched for them (the
    /// upstream use cases judged its answer), or [`PasswordGrantError::MfaRequired`] for an
    /// account with MFA, whose second step is the same as after a password.
    #[tracing::instrument(skip_all, fields(%idp))]
    pub async fn browser_sign_in_upstream(
        &self,
        user: &User,
        idp: &crate::id::ProviderId,
        caller: Caller,
    ) -> Result<BrowserSignIn, PasswordGrantError> {
        if !user.is_active {
            return Err(AuthenticateError::InvalidCredentials.into());
        }
        if self.has_second_factor(user).await? {
            let purpose = ChallengeFor::Browser {
                first: Amr::Upstream,
                idp: Some(idp.clone()),
            };
            return Err(self.challenge(user, purpose).await?);
        }
        let session = Session::start(
            user,
            ScopeSet::default(),
            caller,
            self.policy.sessions,
            self.clock.now(),
        )
        .in_browser()
        .with_amr(Amr::Upstream)
        .with_idp(Some(idp.clone()));
        let cookie = self.opaque.generate();
        self.sessions
            .create_browser(&session, &self.opaque.digest(&cookie))
            .await?;
        let detail = format!("hosted sign-in through {idp}");
        self.signed_in(user, &session, Some(&detail)).await;
        Ok(BrowserSignIn {
            session,
            cookie,
            must_enrol: self.policy.mfa.must_enrol(user.role, false),
        })
    }

    /// The live browser session behind a cookie, with its user, if the user may still
    /// sign in; `None` for anything else.
    pub async fn browser_session(
        &self,
        cookie: &SecretString,
    ) -> Result<Option<(Session, User)>, RepositoryError> {
        let found = self
            .sessions
            .find_browser(&self.opaque.digest(cookie))
            .await?;
        let now = self.clock.now();
        Ok(found.filter(|(session, user)| {
            session.kind == SessionKind::Browser
                && session.is_live(now)
                && user.is_active
                && session.opened_under(user)
        }))
    }

    /// Ends the browser session behind a cookie, if any.
    pub async fn browser_sign_out(
        &self,
        cookie: &SecretString,
        caller: &Caller,
    ) -> Result<(), RepositoryError> {
        if let Some((session, user)) = self.browser_session(cookie).await? {
            self.sessions
                .revoke(user.id, session.id, self.clock.now())
                .await?;
            self.audit
                .record(AuditKind::BrowserSignOut, Some(user.id), None, caller, None)
                .await;
            tracing::info!(event = "browser_sign_out", user_id = %user.id, session_id = %session.id, "signed out of the hosted pages");
        }
        Ok(())
    }
}
