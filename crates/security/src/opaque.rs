//! Opaque bearer secrets: 256 random bits, URL-safe, stored only as SHA-256 digests.
//!
//! A fast digest is right here, unlike for passwords: the tokens carry 256 bits of entropy,
//! so there is nothing to brute-force, and lookups by digest must be cheap.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_domain::ports::{OpaqueTokens, TokenDigest};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

const TOKEN_BYTES: usize = 32;

#[derive(Debug, Default, Clone, Copy)]
pub struct RandomTokens;

impl OpaqueTokens for RandomTokens {
    fn generate(&self) -> SecretString {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        SecretString::from(URL_SAFE_NO_PAD.encode(bytes))
    }

    fn digest(&self, token: &SecretString) -> TokenDigest {
        let digest = Sha256::digest(token.expose_secret().as_bytes());
        TokenDigest::new(
            digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
        )
    }

    fn s256_challenge(&self, verifier: &str) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_256_bits_and_differ() {
        let a = RandomTokens.generate();
        let b = RandomTokens.generate();
        assert_ne!(a.expose_secret(), b.expose_secret());
        let decoded = URL_SAFE_NO_PAD.decode(a.expose_secret()).unwrap();
        assert_eq!(decoded.len(), 32);
        for _ in 0..100 {
            let token = RandomTokens.generate();
            assert!(
                gatehouse_domain::ports::is_opaque_token(token.expose_secret()),
                "the domain's shape of a token"
            );
        }
    }

    #[test]
    fn pkce_challenges_are_those_of_rfc_7636() {
        // RFC 7636 Appendix B.
        assert_eq!(
            RandomTokens.s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn digests_are_stable_sha256_hex() {
        let token = SecretString::from("abc");
        assert_eq!(
            RandomTokens.digest(&token).as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
