//! Authorization codes (RFC 6749 §4.1) and the PKCE values bound to them (RFC 7636).

use chrono::{DateTime, Duration, Utc};

use super::client::ClientId;
use crate::scope::ScopeSet;
use crate::session::SessionId;
use crate::user::UserId;

/// How long a code may wait for its exchange (RFC 6749 §4.1.2 recommends at most 10
/// minutes; a browser redirect takes seconds).
pub const CODE_LIFETIME: Duration = Duration::seconds(60);

/// A code as stored: everything the exchange must match and what it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub client_id: ClientId,
    /// The redirect URI of the authorization request, exactly as sent.
    pub redirect_uri: String,
    pub user_id: UserId,
    pub scopes: ScopeSet,
    /// The registered API (RFC 8707 `resource`) and its scopes the code grants, if any.
    pub resources: Vec<crate::apis::ApiGrant>,
    /// The PKCE `S256` challenge, when the request had one.
    pub code_challenge: Option<CodeChallenge>,
    pub nonce: Option<Nonce>,
    /// The session the exchange opens, decided now so that a replayed code can end it.
    pub session_id: SessionId,
    /// The browser session the person signed in with.
    pub browser_session_id: SessionId,
    /// The user's credential version at sign-in: a password changed since voids the code.
    pub credential_version: i64,
    /// When the person typed their password.
    pub auth_time: DateTime<Utc>,
    /// How they signed in, and the upstream provider that signed them in, if one did.
    pub amr: crate::mfa::Amr,
    pub idp: Option<crate::id::ProviderId>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    #[error("must be 43 characters of URL-safe base64 (the S256 of a code verifier)")]
    Challenge,
    #[error("must be 43 to 128 characters of A–Z, a–z, 0–9, `-`, `.`, `_` or `~`")]
    Verifier,
}

/// A PKCE `S256` code challenge: 43 characters of URL-safe base64 without padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    pub fn parse(raw: &str) -> Result<Self, PkceError> {
        let valid = raw.len() == 43
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        valid
            .then(|| Self(raw.to_owned()))
            .ok_or(PkceError::Challenge)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `verifier` has the shape RFC 7636 §4.1 gives code verifiers.
pub fn is_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to {max} printable characters")]
pub struct ParameterError {
    max: usize,
}

/// A printable, bounded request parameter that the server only echoes back.
fn printable(raw: &str, max: usize) -> Result<String, ParameterError> {
    let valid = !raw.is_empty() && raw.len() <= max && !raw.chars().any(char::is_control);
    valid.then(|| raw.to_owned()).ok_or(ParameterError { max })
}

/// The client's `nonce`, returned in the ID token: at most 255 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonce(String);

impl Nonce {
    pub fn parse(raw: &str) -> Result<Self, ParameterError> {
        printable(raw, 255).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The client's `state`, returned with the code: at most 1,000 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State(String);

impl State {
    pub fn parse(raw: &str) -> Result<Self, ParameterError> {
        printable(raw, 1_000).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_values_have_their_rfc_shapes() {
        assert!(CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").is_ok());
        assert!(CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c").is_err());
        assert!(CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM").is_err());
        assert!(is_code_verifier(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
        assert!(is_code_verifier(&"~".repeat(128)));
        assert!(!is_code_verifier(&"a".repeat(42)));
        assert!(!is_code_verifier(&"a".repeat(129)));
        assert!(!is_code_verifier(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn echoed_parameters_are_printable_and_bounded() {
        assert!(State::parse("xyz 123").is_ok());
        assert!(State::parse("").is_err());
        assert!(State::parse("a\nb").is_err());
        assert!(Nonce::parse(&"n".repeat(255)).is_ok());
        assert!(Nonce::parse(&"n".repeat(256)).is_err());
    }
}
