//! What the use cases count for an operator's metrics (the server exports them): kinds and
//! outcomes only, never who — no account, address, client or provider is ever passed here,
//! so no label can carry one. Names are the `as_str` of the domain's own enums
//! (`AuditKind`, `Bucket`, grant types): a fixed set.

/// How a sign-in ended, whatever proved it (a password, a passkey, an upstream provider).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// A session was opened.
    Success,
    /// A wrong password, or an address no account has (told apart by no one).
    WrongPassword,
    /// Refused by the brute-force limits before any check.
    Throttled,
    /// The first factor was right; a second one is now asked for.
    SecondFactorAsked,
    /// A one-time code, recovery code or passkey refused as a second factor.
    SecondFactorFailed,
}

impl LoginOutcome {
    pub const ALL: [LoginOutcome; 5] = [
        LoginOutcome::Success,
        LoginOutcome::WrongPassword,
        LoginOutcome::Throttled,
        LoginOutcome::SecondFactorAsked,
        LoginOutcome::SecondFactorFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LoginOutcome::Success => "success",
            LoginOutcome::WrongPassword => "wrong_password",
            LoginOutcome::Throttled => "throttled",
            LoginOutcome::SecondFactorAsked => "second_factor_asked",
            LoginOutcome::SecondFactorFailed => "second_factor_failed",
        }
    }
}

/// What became of one try to deliver a queued email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailOutcome {
    /// The transport took it.
    Sent,
    /// The transport failed; it will be tried again.
    Retried,
    /// It failed its last try (or cannot be opened): dead until an admin retries it.
    Dead,
}

impl MailOutcome {
    pub const ALL: [MailOutcome; 3] = [MailOutcome::Sent, MailOutcome::Retried, MailOutcome::Dead];

    pub fn as_str(self) -> &'static str {
        match self {
            MailOutcome::Sent => "sent",
            MailOutcome::Retried => "retried",
            MailOutcome::Dead => "dead",
        }
    }
}

/// Counts kept for an operator. Every method has a default that counts nothing, so an
/// adapter implements what it exports.
pub trait Meter: Send + Sync {
    /// A security event (an `AuditKind`, by name) was recorded in the audit trail.
    fn event(&self, _kind: &'static str) {}
    /// A sign-in ended so.
    fn login(&self, _outcome: LoginOutcome) {}
    /// A request was refused by the brute-force limit of `bucket` (a `Bucket`, by name).
    fn throttled(&self, _bucket: &'static str) {}
    /// A token request of the grant type `grant` (one of a few names, `other` for the
    /// rest) was answered with tokens (`issued`) or refused.
    fn grant(&self, _grant: &'static str, _issued: bool) {}
    /// A try to deliver a queued email ended so.
    fn mail(&self, _outcome: MailOutcome) {}
}

/// Counts nothing: where no metrics are exported, and in tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMeter;

impl Meter for NoMeter {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_have_distinct_names() {
        let mut names: Vec<_> = LoginOutcome::ALL.iter().map(|o| o.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), LoginOutcome::ALL.len());
    }
}
