//! Ed25519 signing keys: generation, PEM files, key ids and the public parameters that the
//! JWKS document publishes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
#[error("invalid Ed25519 key: {0}")]
pub struct KeyError(String);

/// A public key as the JWKS document shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    pub kid: String,
    /// The raw 32-byte public key, base64url (RFC 8037 `x`).
    pub x: String,
}

/// The key id of a public key: the first 16 hex digits of its SHA-256.
pub fn key_id(public: &VerifyingKey) -> String {
    Sha256::digest(public.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn public_jwk(public: &VerifyingKey) -> PublicJwk {
    PublicJwk {
        kid: key_id(public),
        x: URL_SAFE_NO_PAD.encode(public.as_bytes()),
    }
}

/// A new key pair as (PKCS#8 private PEM, SPKI public PEM).
pub fn generate_ed25519() -> Result<(SecretString, String), KeyError> {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    let signing = SigningKey::from_bytes(&seed);
    let private = signing
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError(e.to_string()))?;
    let public = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError(e.to_string()))?;
    Ok((SecretString::from(private.as_str()), public))
}

pub fn parse_private(pem: &SecretString) -> Result<SigningKey, KeyError> {
    SigningKey::from_pkcs8_pem(pem.expose_secret()).map_err(|e| KeyError(e.to_string()))
}

pub fn parse_public(pem: &str) -> Result<VerifyingKey, KeyError> {
    VerifyingKey::from_public_key_pem(pem).map_err(|e| KeyError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_pems_round_trip_to_the_same_key_id() {
        let (private, public) = generate_ed25519().unwrap();
        let signing = parse_private(&private).unwrap();
        let verifying = parse_public(&public).unwrap();
        assert_eq!(signing.verifying_key(), verifying);
        assert_eq!(key_id(&verifying).len(), 16);
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(public_jwk(&verifying).x)
                .unwrap()
                .len(),
            32
        );
    }
}
