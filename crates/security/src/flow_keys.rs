//! The domain's `FlowKeys`: an upstream sign-in's nonce and PKCE verifier, derived from its
//! state by HMAC-SHA256 under a key of the instances (from the MFA key, which every
//! instance shares), so that nothing secret is stored and the state alone gives neither.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_domain::upstream::FlowKeys;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

pub struct FlowKey(SecretBox<[u8; 32]>);

impl FlowKey {
    /// The key for upstream sign-ins, derived from `secret` for this purpose only.
    pub fn from_secret(secret: &SecretString) -> Self {
        Self(SecretBox::new(Box::new(<[u8; 32]>::from(Sha256::digest(
            [
                b"gatehouse upstream flows\0".as_slice(),
                secret.expose_secret().as_bytes(),
            ]
            .concat(),
        )))))
    }
}

impl FlowKeys for FlowKey {
    fn derive(&self, state: &SecretString, purpose: &str) -> SecretString {
        let mut mac =
            HmacSha256::new_from_slice(self.0.expose_secret()).expect("HMAC takes any key size");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(state.expose_secret().as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_purpose_and_key_gives_another_value() {
        let key = FlowKey::from_secret(&"one secret of at least thirty-two bytes".into());
        let other = FlowKey::from_secret(&"another secret of at least thirty-two".into());
        let state: SecretString = "the state".into();
        let nonce = key.derive(&state, "nonce");
        assert_eq!(nonce.expose_secret().len(), 43);
        assert_eq!(
            nonce.expose_secret(),
            key.derive(&state, "nonce").expose_secret()
        );
        assert_ne!(
            nonce.expose_secret(),
            key.derive(&state, "pkce").expose_secret()
        );
        assert_ne!(
            nonce.expose_secret(),
            other.derive(&state, "nonce").expose_secret()
        );
        assert_ne!(
            nonce.expose_secret(),
            key.derive(&"another state".into(), "nonce").expose_secret()
        );
    }
}
