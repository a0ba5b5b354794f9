//! CSRF tokens bound to a browser and to its sign-in. A token is an HMAC-SHA256, under a
//! server key, of the browser's own random secret (kept in a cookie of its own) and of its
//! session cookie, if any. Another site that plants a cookie of its choosing cannot make a
//! token that goes with it without the key; and since a sign-in or a sign-out changes the
//! session cookie (and the pages renew the browser's secret then too), every token issued
//! before either stops verifying.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The server key of CSRF tokens.
pub struct CsrfKey(SecretBox<[u8; 32]>);

impl CsrfKey {
    /// The key a configured secret (the MFA encryption key, which every instance shares)
    /// stands for: its SHA-256 under a label of its own, unrelated to the secret's other
    /// uses.
    pub fn from_secret(secret: &SecretString) -> Self {
        Self(SecretBox::new(Box::new(<[u8; 32]>::from(Sha256::digest(
            [
                b"gatehouse csrf tokens\0".as_slice(),
                secret.expose_secret().as_bytes(),
            ]
            .concat(),
        )))))
    }

    fn mac(&self, browser: &str, session: Option<&str>) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(self.0.expose_secret()).expect("HMAC takes any key size");
        // Length-prefixed, so no two (browser, session) pairs give the same input.
        let session = session.unwrap_or("");
        for part in [browser, session] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    /// The token for forms of a browser whose secret is `browser` and whose session cookie
    /// is `session`: 43 URL-safe characters.
    pub fn token(&self, browser: &str, session: Option<&str>) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.mac(browser, session).finalize().into_bytes())
    }

    /// Whether `token` is this browser's for this session cookie (compared in constant
    /// time).
    pub fn verify(&self, browser: &str, session: Option<&str>, token: &str) -> bool {
        let Ok(sent) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token) else {
            return false;
        };
        self.mac(browser, session).verify_slice(&sent).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &str) -> CsrfKey {
        CsrfKey::from_secret(&SecretString::from(secret.to_owned()))
    }

    #[test]
    fn a_token_holds_for_its_browser_and_session_only() {
        let key = key("a server key of at least thirty-two bytes");
        let token = key.token("browser-a", Some("session-1"));
        assert_eq!(token.len(), 43);
        assert!(key.verify("browser-a", Some("session-1"), &token));
        // Another browser's secret, another (or no) session, another server key: refused.
        assert!(!key.verify("browser-b", Some("session-1"), &token));
        assert!(!key.verify("browser-a", Some("session-2"), &token));
        assert!(!key.verify("browser-a", None, &token));
        assert!(
            !self::key("another server key, also thirty-two bytes").verify(
                "browser-a",
                Some("session-1"),
                &token
            )
        );
        // The naive double submit: the browser's secret itself as the token.
        assert!(!key.verify("browser-a", None, "browser-a"));
        assert!(!key.verify("browser-a", None, ""));
    }

    #[test]
    fn parts_cannot_be_shifted_between_browser_and_session() {
        let key = key("a server key of at least thirty-two bytes");
        let token = key.token("ab", Some("c"));
        assert!(!key.verify("a", Some("bc"), &token));
    }
}
