//! Multi-factor authentication: a TOTP authenticator (RFC 6238) per account with ten
//! single-use recovery codes, and the second step of a sign-in. [`ports`] stores them and
//! computes codes, [`factors`] checks a code the way a password is checked (reserved,
//! throttled, audited), [`service`] enrols, disables, regenerates and resets.

pub mod factors;
pub mod ports;
pub mod service;

use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;

use crate::scope::ScopeSet;
use crate::user::{Role, UserId};

pub use crate::session::Amr;
pub use factors::{FactorError, FactorUse, SecondFactors};
pub use ports::{Authenticators, MfaRepository, NoPasskeys, OtpError, PasskeyPresence};
pub use service::{MfaError, MfaPorts, MfaService};

/// How many recovery codes an account gets, each usable once.
pub const RECOVERY_CODES: usize = 10;

/// How long the second step of a sign-in may wait for its code.
pub const CHALLENGE_LIFETIME: Duration = Duration::minutes(5);

/// A TOTP secret as stored: encrypted, and bound to its account. Opaque to the domain.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret(String);

impl SealedSecret {
    pub fn new(sealed: impl Into<String>) -> Self {
        Self(sealed.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedSecret(..)")
    }
}

/// What a person copies into an authenticator app, shown once at enrolment.
#[derive(Debug)]
pub struct Enrolment {
    /// The secret in base32, for typing in by hand.
    pub secret: SecretString,
    /// The `otpauth://totp/...` URI a QR code carries.
    pub uri: SecretString,
}

/// An account's authenticator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaCredential {
    pub user_id: UserId,
    pub sealed: SealedSecret,
    /// When a valid code confirmed it; until then it is pending and signs nobody in.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The last time step whose code was accepted: no code of it or before is taken again.
    pub last_step: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// What an account's MFA looks like from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaStatus {
    pub enabled: bool,
    pub enrolled_at: Option<DateTime<Utc>>,
    pub recovery_codes_left: u32,
}

/// The second factor a person offers.
#[derive(Debug)]
pub enum Factor {
    /// A 6-digit code from the authenticator.
    Otp(String),
    /// One of the recovery codes.
    RecoveryCode(SecretString),
}

impl Factor {
    /// The factor a form or request carries: exactly one of `otp` and `recovery_code`.
    pub fn from_fields(otp: Option<String>, recovery_code: Option<String>) -> Option<Self> {
        let present = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
        match (present(otp), present(recovery_code)) {
            (Some(otp), None) => Some(Factor::Otp(otp)),
            (None, Some(code)) => Some(Factor::RecoveryCode(SecretString::from(code))),
            _ => None,
        }
    }
}

/// Rules of MFA that deployments choose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MfaPolicy {
    /// Admin scopes are granted only to sessions opened with a second factor (or a
    /// passkey).
    pub required_for_admins: bool,
}

impl MfaPolicy {
    /// The role whose scopes a session opened by `amr` may hold: an admin who signed in
    /// without a second factor holds a user's scopes while the policy requires one.
    pub fn scope_role(self, role: Role, amr: Amr) -> Role {
        if self.required_for_admins && role == Role::Admin && !amr.multi_factor() {
            Role::User
        } else {
            role
        }
    }

    /// Whether `role` must enrol before it gets what it may hold.
    pub fn must_enrol(self, role: Role, enabled: bool) -> bool {
        self.required_for_admins && role == Role::Admin && !enabled
    }
}

/// What the second step of a sign-in will open once its code is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengeFor {
    /// Tokens, for the password grant: the scopes it granted, and the client that asked
    /// (`client_id`, if it named one), which must complete it.
    Tokens {
        scopes: ScopeSet,
        client_id: Option<String>,
    },
    /// A browser session of the hosted pages, after the first factor `first` (a
    /// password, or an upstream provider's sign-in).
    Browser {
        first: Amr,
        idp: Option<crate::id::ProviderId>,
    },
}

/// A sign-in waiting for its second factor: single-use, short-lived, bound to what the
/// password opened and to the credential it was checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub user_id: UserId,
    pub purpose: ChallengeFor,
    pub credential_version: i64,
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
pub(crate) mod tests;
