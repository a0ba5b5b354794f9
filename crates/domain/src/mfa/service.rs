//! The MFA use cases of an account: its status, enrolment (start, then confirm with a
//! valid code), disabling and regenerating recovery codes (each confirmed by the current
//! password and a second factor), and an admin's reset.

use std::collections::HashSet;
use std::sync::Arc;

use secrecy::SecretString;

use super::factors::{FactorError, FactorUse, SecondFactors};
use super::ports::{Authenticators, MfaRepository};
use super::{Enrolment, Factor, MfaStatus, RECOVERY_CODES};
use crate::attempts::{ConfirmError, PasswordAttempts};
use crate::audit::{Audit, AuditKind};
use crate::clock::Clock;
use crate::error::{RepositoryError, ValidationErrors};
use crate::ports::{
    HashingError, PasswordVerifier, SessionRepository, TokenDigest, UserRepository,
};
use crate::reauth::{ClientTrust, ReauthError, ReauthRefusal, Reauthentication};
use crate::session::{Caller, SessionId};
use crate::throttle::Throttle;
use crate::user::{User, UserId};

#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// A field is missing or malformed; nothing changed.
    #[error(transparent)]
    Invalid(ValidationErrors),
    /// The account has MFA already: disable it first.
    #[error("multi-factor authentication is already enabled")]
    AlreadyEnabled,
    /// There is no enrolment to confirm, or no MFA to disable.
    #[error("multi-factor authentication is not enabled")]
    NotEnabled,
    /// The code is wrong, malformed or already used.
    #[error("the code is wrong or was already used")]
    InvalidCode,
    /// The current password confirming the change is wrong.
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("user not found")]
    UserNotFound,
    /// Too many attempts for this account or from this network: wait `retry_after`.
    #[error("too many attempts")]
    Throttled { retry_after: std::time::Duration },
    /// Re-authentication refused: a third-party app's session, or a sign-in too old.
    #[error(transparent)]
    NotReauthenticated(ReauthRefusal),
    /// A stored secret cannot be opened (a configuration problem).
    #[error(transparent)]
    Unreadable(#[from] super::OtpError),
    #[error(transparent)]
    Hashing(#[from] HashingError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

crate::throttle::throttled_error!(MfaError);

impl From<FactorError> for MfaError {
    fn from(error: FactorError) -> Self {
        match error {
            FactorError::Invalid => MfaError::InvalidCode,
            FactorError::NotEnabled => MfaError::NotEnabled,
            FactorError::Throttled { retry_after } => MfaError::Throttled { retry_after },
            FactorError::Unreadable(error) => MfaError::Unreadable(error),
            FactorError::Repository(error) => MfaError::Repository(error),
        }
    }
}

impl From<ReauthError> for MfaError {
    fn from(error: ReauthError) -> Self {
        match error {
            ReauthError::Refused(refusal) => MfaError::NotReauthenticated(refusal),
            ReauthError::Password(error) => error.into(),
        }
    }
}

impl From<ConfirmError> for MfaError {
    fn from(error: ConfirmError) -> Self {
        match error {
            ConfirmError::Missing => {
                MfaError::Invalid(missing("current_password", "current password is required"))
            }
            ConfirmError::Wrong => MfaError::WrongPassword,
            ConfirmError::Throttled { retry_after } => MfaError::Throttled { retry_after },
            ConfirmError::Hashing(error) => MfaError::Hashing(error),
            ConfirmError::Repository(error) => MfaError::Repository(error),
        }
    }
}

fn missing(field: &'static str, message: &str) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    errors.add(field, message);
    errors
}

/// The adapters MFA runs on.
pub struct MfaPorts {
    pub repository: Arc<dyn MfaRepository>,
    pub authenticators: Arc<dyn Authenticators>,
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub verifier: Arc<dyn PasswordVerifier>,
    pub clock: Arc<dyn Clock>,
    pub throttle: Throttle,
    pub audit: Audit,
    /// Which OAuth clients are first-party (re-authentication refuses the others).
    pub clients: Arc<dyn ClientTrust>,
    /// How recent a sign-in re-authenticates an account without a password.
    pub reauthentication: chrono::Duration,
}

#[derive(Clone)]
pub struct MfaService {
    repository: Arc<dyn MfaRepository>,
    authenticators: Arc<dyn Authenticators>,
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    reauth: Reauthentication,
    factors: SecondFactors,
    clock: Arc<dyn Clock>,
    audit: Audit,
}

impl MfaService {
    pub fn new(ports: MfaPorts) -> Self {
        let attempts = PasswordAttempts::new(ports.verifier, ports.throttle, ports.audit.clone());
        Self {
            factors: SecondFactors::new(
                ports.repository.clone(),
                ports.authenticators.clone(),
                attempts.clone(),
                ports.clock.clone(),
                ports.audit.clone(),
            ),
            reauth: Reauthentication::new(
                attempts,
                ports.sessions.clone(),
                ports.clients,
                ports.clock.clone(),
                ports.audit.clone(),
                ports.reauthentication,
            ),
            repository: ports.repository,
            authenticators: ports.authenticators,
            users: ports.users,
            sessions: ports.sessions,
            clock: ports.clock,
            audit: ports.audit,
        }
    }

    /// Whether `user` has MFA, since when, and how many recovery codes are left.
    pub async fn status(&self, user: UserId) -> Result<MfaStatus, RepositoryError> {
        let confirmed = self
            .repository
            .find(user)
            .await?
            .and_then(|credential| credential.confirmed_at);
        Ok(MfaStatus {
            enabled: confirmed.is_some(),
            enrolled_at: confirmed,
            recovery_codes_left: match confirmed {
                Some(_) => self.repository.recovery_codes_left(user).await?,
                None => 0,
            },
        })
    }

    /// Deletes sign-in challenges that expired; the housekeeping task calls it.
    pub async fn purge_challenges(&self) -> Result<u64, RepositoryError> {
        self.repository.purge_challenges(self.clock.now()).await
    }

    /// Which of `users` have MFA (for lists of accounts).
    pub async fn enabled_among(
        &self,
        users: &[UserId],
    ) -> Result<HashSet<UserId>, RepositoryError> {
        self.repository.enabled_among(users).await
    }

    /// Starts enrolment, after re-authentication of the person behind `session`: a new
    /// secret, pending until [`Self::confirm`] sees a valid code from it. Starting again
    /// replaces a pending secret. The secret is returned here only.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    pub async fn start(
        &self,
        user: &User,
        session: SessionId,
        password: Option<&SecretString>,
        caller: &Caller,
    ) -> Result<Enrolment, MfaError> {
        if self.factors.enabled(user).await?.is_some() {
            return Err(MfaError::AlreadyEnabled);
        }
        self.reauth.check(user, session, password, caller).await?;
        let (sealed, enrolment) = self.authenticators.enrol(user.id, &user.email);
        if !self
            .repository
            .start(user.id, &sealed, self.clock.now())
            .await?
        {
            return Err(MfaError::AlreadyEnabled);
        }
        tracing::info!(event = "mfa_enrolment_started", "MFA enrolment started");
        Ok(enrolment)
    }

    /// Confirms enrolment with a code from the pending secret (checked as an attempt on
    /// the account's and the network's counts): MFA is on from now, every other session of
    /// the account ends (`session`, the caller's, is kept), and the recovery codes are
    /// returned, once.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    pub async fn confirm(
        &self,
        user: &User,
        session: SessionId,
        code: &str,
        caller: &Caller,
    ) -> Result<Vec<SecretString>, MfaError> {
        let pending = match self.repository.find(user.id).await? {
            Some(credential) if credential.confirmed_at.is_some() => {
                return Err(MfaError::AlreadyEnabled);
            }
            Some(credential) => credential,
            None => return Err(MfaError::NotEnabled),
        };
        let step = self
            .factors
            .check_pending(user, &pending, code, caller)
            .await?
            .ok_or(MfaError::InvalidCode)?;
        let now = self.clock.now();
        let (codes, digests) = self.new_recovery_codes();
        if !self
            .repository
            .confirm(user.id, &pending.sealed, step, &digests, now)
            .await?
        {
            // Confirmed or restarted by a concurrent request: this code confirmed nothing.
            return Err(MfaError::InvalidCode);
        }
        let ended = self.end_other_sessions(user, session).await?;
        self.audit
            .record(
                AuditKind::MfaEnrolled,
                Some(user.id),
                None,
                caller,
                Some(format!("{ended} other sessions ended")),
            )
            .await;
        tracing::info!(event = "mfa_enrolled", ended, "MFA enabled");
        Ok(codes)
    }

    /// Turns MFA off, with the current password and a second factor.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    pub async fn disable(
        &self,
        user: &User,
        session: SessionId,
        password: Option<&SecretString>,
        factor: Option<Factor>,
        caller: &Caller,
    ) -> Result<(), MfaError> {
        self.confirm_change(user, session, password, factor, caller)
            .await?;
        self.repository.remove(user.id).await?;
        self.audit
            .record(AuditKind::MfaDisabled, Some(user.id), None, caller, None)
            .await;
        tracing::info!(event = "mfa_disabled", "MFA disabled");
        Ok(())
    }

    /// Replaces the recovery codes, with re-authentication and a second factor; every
    /// other session of the account ends (whoever held the old codes may have signed in
    /// with one), and the new ones are returned, once.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    pub async fn regenerate(
        &self,
        user: &User,
        session: SessionId,
        password: Option<&SecretString>,
        factor: Option<Factor>,
        caller: &Caller,
    ) -> Result<Vec<SecretString>, MfaError> {
        self.confirm_change(user, session, password, factor, caller)
            .await?;
        let (codes, digests) = self.new_recovery_codes();
        self.repository
            .replace_recovery_codes(user.id, &digests, self.clock.now())
            .await?;
        let ended = self.end_other_sessions(user, session).await?;
        self.audit
            .record(
                AuditKind::RecoveryCodesRegenerated,
                Some(user.id),
                None,
                caller,
                Some(format!("{ended} other sessions ended")),
            )
            .await;
        Ok(codes)
    }

    /// An admin removes a user's MFA (a lost phone and lost codes): the user signs in with
    /// the password alone until they enrol again.
    #[tracing::instrument(skip_all, fields(user_id = %id))]
    pub async fn reset(&self, actor: &User, id: UserId, caller: &Caller) -> Result<bool, MfaError> {
        if self.users.find_by_id(id).await?.is_none() {
            return Err(MfaError::UserNotFound);
        }
        let removed = self.repository.remove(id).await?;
        self.audit
            .record(
                AuditKind::MfaReset,
                Some(id),
                Some(actor.id),
                caller,
                Some(
                    if removed {
                        "removed"
                    } else {
                        "nothing to remove"
                    }
                    .into(),
                ),
            )
            .await;
        tracing::info!(event = "mfa_reset", actor_id = %actor.id, removed, "MFA reset by an admin");
        Ok(removed)
    }

    /// Ends every other session of the account (see [`crate::users::end_other_sessions`]).
    async fn end_other_sessions(&self, user: &User, keep: SessionId) -> Result<u64, MfaError> {
        let now = self.clock.now();
        crate::users::end_other_sessions(&*self.users, &*self.sessions, user.id, keep, now)
            .await?
            .ok_or(MfaError::UserNotFound)
    }

    /// Re-authentication first (no code is spent on a wrong password), then the factor.
    async fn confirm_change(
        &self,
        user: &User,
        session: SessionId,
        password: Option<&SecretString>,
        factor: Option<Factor>,
        caller: &Caller,
    ) -> Result<(), MfaError> {
        if self.factors.enabled(user).await?.is_none() {
            return Err(MfaError::NotEnabled);
        }
        let Some(factor) = factor else {
            return Err(MfaError::Invalid(missing(
                "otp",
                "give a code from the authenticator (`otp`) or a recovery code (`recovery_code`)",
            )));
        };
        self.reauth.check(user, session, password, caller).await?;
        self.factors
            .verify(user, &factor, caller, FactorUse::Confirmation)
            .await?;
        Ok(())
    }

    fn new_recovery_codes(&self) -> (Vec<SecretString>, Vec<TokenDigest>) {
        let codes = self.authenticators.recovery_codes();
        debug_assert_eq!(codes.len(), RECOVERY_CODES);
        let digests = codes
            .iter()
            .filter_map(|code| self.authenticators.recovery_digest(code))
            .collect();
        (codes, digests)
    }
}
