//! Sessions opened by a passkey, once the passkey use cases verified its assertion: tokens
//! for an app, or a browser session of the hosted pages. A passkey is a whole sign-in
//! (held, and unlocked by the person): no second factor follows it.

use super::*;

impl AuthService {
    /// Tokens for `user`, who signed in with a passkey (`amr`), with `scope` (or the role's
    /// defaults). Refused for a disabled account, or a scope the role does not allow.
    #[tracing::instrument(skip_all)]
    pub async fn passkey_grant(
        &self,
        user: &User,
        amr: Amr,
        scope: Option<&str>,
        caller: Caller,
    ) -> Result<TokenGrant, PasswordGrantError> {
        if !user.is_active {
            return Err(AuthenticateError::AccountDisabled.into());
        }
        let scopes = ScopeSet::grant(scope, self.policy.mfa.scope_role(user.role, amr))?;
        let now = self.clock.now();
        let session =
            Session::start(user, scopes.clone(), caller, self.policy.sessions, now).with_amr(amr);
        let refresh = self.opaque.generate();
        self.sessions
            .create(&session, &self.opaque.digest(&refresh))
            .await?;
        self.signed_in(user, &session, Some("with a passkey")).await;
        let access = self.tokens.issue(user, &session, scopes, now)?;
        Ok(TokenGrant { access, refresh })
    }

    /// A browser session of the hosted pages for `user`, who signed in with a passkey.
    #[tracing::instrument(skip_all)]
    pub async fn browser_sign_in_passkey(
        &self,
        user: &User,
        amr: Amr,
        caller: Caller,
    ) -> Result<BrowserSignIn, PasswordGrantError> {
        if !user.is_active {
            return Err(AuthenticateError::AccountDisabled.into());
        }
        let session = Session::start(
            user,
            ScopeSet::default(),
            caller,
            self.policy.sessions,
            self.clock.now(),
        )
        .in_browser()
        .with_amr(amr);
        let cookie = self.opaque.generate();
        self.sessions
            .create_browser(&session, &self.opaque.digest(&cookie))
            .await?;
        self.signed_in(user, &session, Some("hosted sign-in with a passkey"))
            .await;
        Ok(BrowserSignIn {
            session,
            cookie,
            must_enrol: false,
        })
    }
}
