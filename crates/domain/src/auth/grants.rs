//! The password grant and its second step (the MFA grant): tokens for an app, from a
//! password and, for an account with MFA, a one-time or recovery code.

use super::*;
use crate::id::ClientId;

impl AuthService {
    /// The OAuth2 password grant: authenticate, decide the scopes, start a session, and
    /// issue its first access and refresh tokens. Unknown scope names are refused before any
    /// hashing. The attempt is reserved against the account and the caller's network before
    /// the password is verified, and counts as a failure unless a session is started: a
    /// right password with a scope the role does not allow, or for a disabled account, still
    /// counts. An account with MFA gets [`PasswordGrantError::MfaRequired`] instead and its
    /// attempt is given back: each code that follows is an attempt of its own.
    /// `client` is the client the request named (authenticated); the same must complete it.
    #[tracing::instrument(skip_all)]
    pub async fn password_grant(
        &self,
        name: &LoginName,
        password: &SecretString,
        scope: Option<&str>,
        client: Option<&ClientId>,
        caller: Caller,
    ) -> Result<TokenGrant, PasswordGrantError> {
        if let Some(raw) = scope {
            ScopeSet::parse(raw)?;
        }
        let (user, attempt) = self.login(name, password, &caller).await?;
        let (has_mfa, attempt) = self.has_mfa(&user, attempt).await?;
        let amr = if has_mfa {
            Amr::PasswordOtp
        } else {
            Amr::Password
        };
        let scopes = match ScopeSet::grant(scope, self.policy.mfa.scope_role(user.role, amr)) {
            Ok(scopes) => scopes,
            Err(refused) => {
                return Err(self.refused(attempt, &user, &caller, refused.into()).await);
            }
        };
        if has_mfa {
            self.attempts.abandoned(attempt).await;
            let purpose = ChallengeFor::Tokens {
                scopes,
                client_id: client.map(|id| id.as_str().to_owned()),
            };
            return Err(self.challenge(&user, purpose).await?);
        }
        let now = self.clock.now();
        let session = Session::start(&user, scopes.clone(), caller, self.policy.sessions, now);
        let refresh = self.opaque.generate();
        let created = self
            .sessions
            .create(&session, &self.opaque.digest(&refresh))
            .await;
        self.opened(attempt, created, &user, &session, None).await?;
        let access = self.tokens.issue(&user, &session, scopes, now)?;
        Ok(TokenGrant { access, refresh })
    }

    /// The second step of the password grant for an account with MFA: the `mfa_token` the
    /// first step returned, from the same client, and a one-time or recovery code, checked
    /// as a password is (reserved, throttled with the passwords, audited). The token is
    /// spent by the first success; a wrong code leaves it for another try.
    #[tracing::instrument(skip_all)]
    pub async fn mfa_grant(
        &self,
        mfa_token: &SecretString,
        factor: Option<Factor>,
        client: Option<&ClientId>,
        caller: Caller,
    ) -> Result<TokenGrant, MfaGrantError> {
        self.tokens_after_second_step(mfa_token, Proof::Code(factor), client, caller)
            .await
    }

    /// Tokens after a second step proven by `proof`, for the password grant that answered
    /// `mfa_required` to the same client.
    pub(super) async fn tokens_after_second_step(
        &self,
        mfa_token: &SecretString,
        proof: Proof,
        client: Option<&ClientId>,
        caller: Caller,
    ) -> Result<TokenGrant, MfaGrantError> {
        let kind = proof.kind();
        let (user, challenge) = self
            .proven_step(mfa_token, proof, &caller, |purpose| {
                SecondStepFlow::Tokens(client).admits(purpose)
            })
            .await?;
        let ChallengeFor::Tokens { scopes, .. } = challenge.purpose else {
            return Err(MfaGrantError::InvalidToken);
        };
        let now = self.clock.now();
        let session = Session::start(&user, scopes.clone(), caller, self.policy.sessions, now)
            .with_amr(kind.after(Amr::Password));
        let refresh = self.opaque.generate();
        self.sessions
            .create(&session, &self.opaque.digest(&refresh))
            .await?;
        self.signed_in(&user, &session, Some(kind.detail())).await;
        let access = self.tokens.issue(&user, &session, scopes, now)?;
        Ok(TokenGrant { access, refresh })
    }
}
