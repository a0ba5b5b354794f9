//! The key ring of access tokens: one active key that signs, retired keys that still verify,
//! each named by a `kid`, and the public parameters that the JWKS document publishes.
//!
//! Supported: HS256 (a shared secret), EdDSA (Ed25519) and, for services that only speak
//! RSA, RS256 and PS256. Each key carries its own algorithm, so verification pins the
//! algorithm per key: a token cannot pick how it is checked.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// Shortest HS256 secret accepted, in bytes (RFC 7518 §3.2: key size ≥ hash output).
pub const MIN_SECRET_BYTES: usize = 32;
/// Smallest RSA modulus accepted, in bits (NIST SP 800-131A).
pub const MIN_RSA_BITS: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the JWT secret must be at least {MIN_SECRET_BYTES} bytes")]
    SecretTooShort,
    #[error("RSA keys must have at least {MIN_RSA_BITS} bits")]
    RsaTooShort,
    #[error("invalid {0} key: {1}")]
    Invalid(&'static str, String),
}

/// Secrets from tutorials and examples that must never sign production tokens.
const WELL_KNOWN_SECRETS: &[&str] = &[
    "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7",
    "your-256-bit-secret",
    "a-string-secret-at-least-256-bits-long",
    "change-me-to-a-long-random-secret-of-at-least-32-bytes",
    "changemechangemechangemechangeme",
    "secretsecretsecretsecretsecretsecret",
    "your-secret-key-here-must-be-at-least-32-bytes",
];

/// What the secret policy makes of a configured HS256 secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretVerdict {
    Acceptable,
    /// Long enough, but published in tutorials or made of one repeated character: anyone
    /// could forge tokens with it. Production refuses it; development warns.
    WellKnown,
}

/// Judges a configured HS256 secret: [`KeyError::SecretTooShort`] under
/// [`MIN_SECRET_BYTES`], otherwise whether it is a well-known value.
pub fn judge_secret(secret: &SecretString) -> Result<SecretVerdict, KeyError> {
    let value = secret.expose_secret();
    if value.len() < MIN_SECRET_BYTES {
        return Err(KeyError::SecretTooShort);
    }
    let repeated = value.chars().all(|c| value.starts_with(c));
    Ok(if WELL_KNOWN_SECRETS.contains(&value) || repeated {
        SecretVerdict::WellKnown
    } else {
        SecretVerdict::Acceptable
    })
}

/// A new HS256 secret: 32 random bytes from a CSPRNG seeded by the OS, hex-encoded (64
/// characters).
pub fn generate_secret() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    SecretString::from(hex)
}

/// RSA signature schemes, for interoperability with services that only verify RSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaScheme {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PSS with SHA-256.
    Ps256,
}

impl RsaScheme {
    fn algorithm(self) -> Algorithm {
        match self {
            RsaScheme::Rs256 => Algorithm::RS256,
            RsaScheme::Ps256 => Algorithm::PS256,
        }
    }
}

/// A key that signs new tokens.
pub enum ActiveKey {
    /// HS256 with the UTF-8 bytes of a shared secret (at least 32 bytes).
    Hs256(SecretString),
    /// EdDSA with a PKCS#8 PEM Ed25519 private key (`gatehouse gen-key`).
    Ed25519(SecretString),
    /// RS256 or PS256 with a PKCS#1 or PKCS#8 PEM RSA private key.
    Rsa(RsaScheme, SecretString),
}

/// A key that only verifies tokens signed before a rotation.
pub enum RetiredKey {
    /// A former HS256 secret.
    Hs256(SecretString),
    /// An SPKI PEM public key: Ed25519 verifies EdDSA; RSA verifies with the given scheme.
    Public { pem: String, rsa: RsaScheme },
}

/// A public key as the JWKS document shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    pub kid: String,
    /// `EdDSA`, `RS256` or `PS256`.
    pub alg: &'static str,
    pub params: PublicParams,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicParams {
    /// RFC 8037: the raw 32-byte Ed25519 public key, base64url.
    Ed25519 { x: String },
    /// RFC 7518 §6.3.1: modulus and exponent, base64url big-endian.
    Rsa { n: String, e: String },
}

/// One key of the ring, ready for use.
pub(crate) struct LoadedKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub decoding: DecodingKey,
    /// What JWKS publishes; `None` for shared secrets.
    pub public: Option<PublicJwk>,
}

/// The active key, loaded: the signing half and its verifying entry.
pub(crate) struct LoadedActive {
    pub signer: TokenSigner,
    pub key: LoadedKey,
}

/// What signs new tokens.
pub(crate) enum TokenSigner {
    /// An Ed25519 key, kept expanded. jsonwebtoken's `encode` would read the PKCS#8 document
    /// and derive the public key again for every token: a second scalar multiplication,
    /// as costly as the signature itself.
    Ed25519(Box<SigningKey>),
    /// HS256 and RSA keys, signing through jsonwebtoken.
    Other(EncodingKey),
}

impl TokenSigner {
    /// `claims` under `header`, signed: a JWS in compact serialization (RFC 7515 §7.1),
    /// byte for byte what `jsonwebtoken::encode` makes (Ed25519 signatures are
    /// deterministic). `header.alg` must be the key's algorithm.
    pub(crate) fn encode(
        &self,
        header: &jsonwebtoken::Header,
        claims: &impl serde::Serialize,
    ) -> Result<String, String> {
        let key = match self {
            Self::Other(key) => {
                return jsonwebtoken::encode(header, claims, key).map_err(|e| e.to_string());
            }
            Self::Ed25519(key) => key,
        };
        if header.alg != Algorithm::EdDSA {
            return Err(format!("an Ed25519 key cannot sign {:?}", header.alg));
        }
        let mut token = String::with_capacity(512);
        push_part(header, &mut token)?;
        token.push('.');
        push_part(claims, &mut token)?;
        let signature = ed25519_dalek::Signer::sign(key.as_ref(), token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
        Ok(token)
    }
}

/// Appends `value` as JSON in URL-safe base64 without padding: one part of a JWS.
fn push_part(value: &impl serde::Serialize, token: &mut String) -> Result<(), String> {
    let json = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    URL_SAFE_NO_PAD.encode_string(json, token);
    Ok(())
}

impl ActiveKey {
    pub(crate) fn load(&self) -> Result<LoadedActive, KeyError> {
        match self {
            ActiveKey::Hs256(secret) => Ok(LoadedActive {
                signer: TokenSigner::Other(EncodingKey::from_secret(
                    secret.expose_secret().as_bytes(),
                )),
                key: hs256(secret)?,
            }),
            ActiveKey::Ed25519(pem) => {
                let signing = parse_private(pem)?;
                Ok(LoadedActive {
                    key: ed25519(&signing.verifying_key())?,
                    signer: TokenSigner::Ed25519(Box::new(signing)),
                })
            }
            ActiveKey::Rsa(scheme, pem) => {
                let encoding = EncodingKey::from_rsa_pem(pem.expose_secret().as_bytes())
                    .map_err(|e| KeyError::Invalid("RSA", e.to_string()))?;
                let jwk = Jwk::from_encoding_key(&encoding, scheme.algorithm())
                    .map_err(|e| KeyError::Invalid("RSA", e.to_string()))?;
                Ok(LoadedActive {
                    signer: TokenSigner::Other(encoding),
                    key: rsa(&jwk, *scheme)?,
                })
            }
        }
    }
}

impl RetiredKey {
    pub(crate) fn load(&self) -> Result<LoadedKey, KeyError> {
        match self {
            RetiredKey::Hs256(secret) => hs256(secret),
            RetiredKey::Public { pem, rsa: scheme } => {
                if let Ok(public) = parse_public(pem) {
                    return ed25519(&public);
                }
                let decoding = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
                    KeyError::Invalid("public", format!("neither Ed25519 nor RSA: {e}"))
                })?;
                let jwk = Jwk::from_decoding_key(&decoding, Some(scheme.algorithm()))
                    .map_err(|e| KeyError::Invalid("RSA", e.to_string()))?;
                rsa(&jwk, *scheme)
            }
        }
    }
}

fn hs256(secret: &SecretString) -> Result<LoadedKey, KeyError> {
    let bytes = secret.expose_secret().as_bytes();
    if bytes.len() < MIN_SECRET_BYTES {
        return Err(KeyError::SecretTooShort);
    }
    // The id is a MAC of a fixed label: it names the secret without revealing anything
    // a signed token does not already.
    let mac = jsonwebtoken::crypto::sign(
        b"gatehouse key id",
        &EncodingKey::from_secret(bytes),
        Algorithm::HS256,
    )
    .map_err(|e| KeyError::Invalid("HS256", e.to_string()))?;
    Ok(LoadedKey {
        kid: format!("hs-{}", &mac[..16]),
        algorithm: Algorithm::HS256,
        decoding: DecodingKey::from_secret(bytes),
        public: None,
    })
}

fn ed25519(public: &VerifyingKey) -> Result<LoadedKey, KeyError> {
    let jwk = public_jwk(public);
    let PublicParams::Ed25519 { x } = &jwk.params else {
        unreachable!("an Ed25519 key has Ed25519 parameters")
    };
    let decoding = DecodingKey::from_ed_components(x)
        .map_err(|e| KeyError::Invalid("Ed25519", e.to_string()))?;
    Ok(LoadedKey {
        kid: jwk.kid.clone(),
        algorithm: Algorithm::EdDSA,
        decoding,
        public: Some(jwk),
    })
}

fn rsa(jwk: &Jwk, scheme: RsaScheme) -> Result<LoadedKey, KeyError> {
    let AlgorithmParameters::RSA(params) = &jwk.algorithm else {
        return Err(KeyError::Invalid("RSA", "not an RSA key".into()));
    };
    let modulus = URL_SAFE_NO_PAD
        .decode(&params.n)
        .map_err(|e| KeyError::Invalid("RSA", e.to_string()))?;
    let bits = modulus.len() * 8 - modulus.first().map_or(8, |b| b.leading_zeros() as usize);
    if bits < MIN_RSA_BITS {
        return Err(KeyError::RsaTooShort);
    }
    let thumbprint = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|e| KeyError::Invalid("RSA", e.to_string()))?;
    let decoding = DecodingKey::from_rsa_components(&params.n, &params.e)
        .map_err(|e| KeyError::Invalid("RSA", e.to_string()))?;
    let algorithm = scheme.algorithm();
    let kid = thumbprint[..16].to_owned();
    Ok(LoadedKey {
        kid: kid.clone(),
        algorithm,
        decoding,
        public: Some(PublicJwk {
            kid,
            alg: match scheme {
                RsaScheme::Rs256 => "RS256",
                RsaScheme::Ps256 => "PS256",
            },
            params: PublicParams::Rsa {
                n: params.n.clone(),
                e: params.e.clone(),
            },
        }),
    })
}

/// The key id of an Ed25519 public key: the first 16 hex digits of its SHA-256.
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
        alg: "EdDSA",
        params: PublicParams::Ed25519 {
            x: URL_SAFE_NO_PAD.encode(public.as_bytes()),
        },
    }
}

/// A new Ed25519 key pair as (PKCS#8 private PEM, SPKI public PEM).
pub fn generate_ed25519() -> Result<(SecretString, String), KeyError> {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    let signing = SigningKey::from_bytes(&seed);
    let private = signing
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError::Invalid("Ed25519", e.to_string()))?;
    let public = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError::Invalid("Ed25519", e.to_string()))?;
    Ok((SecretString::from(private.as_str()), public))
}

/// A new RSA key pair of `bits` bits as (PKCS#8 private PEM, SPKI public PEM).
pub fn generate_rsa(bits: usize) -> Result<(SecretString, String), KeyError> {
    use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};
    if bits < MIN_RSA_BITS {
        return Err(KeyError::RsaTooShort);
    }
    let invalid = |e: &dyn std::fmt::Display| KeyError::Invalid("RSA", e.to_string());
    let private =
        rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits).map_err(|e| invalid(&e))?;
    let private_pem = private
        .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| invalid(&e))?;
    let public_pem = private
        .to_public_key()
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| invalid(&e))?;
    Ok((SecretString::from(private_pem.as_str()), public_pem))
}

/// The `kid` tokens signed by the private key in `pem` carry (Ed25519 or RSA).
pub fn private_key_id(pem: &SecretString) -> Result<String, KeyError> {
    if let Ok(signing) = parse_private(pem) {
        return Ok(key_id(&signing.verifying_key()));
    }
    ActiveKey::Rsa(RsaScheme::Rs256, pem.clone())
        .load()
        .map(|loaded| loaded.key.kid)
}

pub fn parse_private(pem: &SecretString) -> Result<SigningKey, KeyError> {
    SigningKey::from_pkcs8_pem(pem.expose_secret())
        .map_err(|e| KeyError::Invalid("Ed25519", e.to_string()))
}

pub fn parse_public(pem: &str) -> Result<VerifyingKey, KeyError> {
    VerifyingKey::from_public_key_pem(pem).map_err(|e| KeyError::Invalid("Ed25519", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ed25519_key_signs_what_jsonwebtoken_would_and_only_as_eddsa() {
        let (private, _) = generate_ed25519().unwrap();
        let signer = ActiveKey::Ed25519(private.clone()).load().unwrap().signer;
        assert!(matches!(signer, TokenSigner::Ed25519(_)));
        let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
        header.typ = Some("at+jwt".into());
        header.kid = Some("k1".into());
        let claims = serde_json::json!({ "sub": "ada", "n": 1, "text": "é \"quoted\"" });
        let reference = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_ed_pem(private.expose_secret().as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(signer.encode(&header, &claims).unwrap(), reference);
        let hs256 = jsonwebtoken::Header::new(Algorithm::HS256);
        assert!(signer.encode(&hs256, &claims).is_err());
    }

    #[test]
    fn generated_pems_round_trip_to_the_same_key_id() {
        let (private, public) = generate_ed25519().unwrap();
        let signing = parse_private(&private).unwrap();
        let verifying = parse_public(&public).unwrap();
        assert_eq!(signing.verifying_key(), verifying);
        assert_eq!(key_id(&verifying).len(), 16);
        let PublicParams::Ed25519 { x } = public_jwk(&verifying).params else {
            panic!("not Ed25519")
        };
        assert_eq!(URL_SAFE_NO_PAD.decode(x).unwrap().len(), 32);
        assert_eq!(private_key_id(&private).unwrap(), key_id(&verifying));
    }

    #[test]
    fn an_rsa_key_and_its_public_half_have_one_kid() {
        let (private, public) = generate_rsa(2048).unwrap();
        let active = ActiveKey::Rsa(RsaScheme::Ps256, private.clone())
            .load()
            .unwrap();
        let retired = RetiredKey::Public {
            pem: public,
            rsa: RsaScheme::Ps256,
        }
        .load()
        .unwrap();
        assert_eq!(active.key.kid, retired.kid);
        assert_eq!(private_key_id(&private).unwrap(), retired.kid);
        assert_eq!(retired.algorithm, Algorithm::PS256);
        let Some(PublicParams::Rsa { n, e }) = retired.public.map(|jwk| jwk.params) else {
            panic!("not RSA")
        };
        assert_eq!(URL_SAFE_NO_PAD.decode(n).unwrap().len(), 256);
        assert_eq!(e, "AQAB");
    }

    #[test]
    fn the_secret_policy_refuses_short_and_flags_well_known_secrets() {
        let judge = |s: &str| judge_secret(&SecretString::from(s));
        assert!(matches!(judge("too-short"), Err(KeyError::SecretTooShort)));
        assert_eq!(
            judge("your-256-bit-secret-but-longer-xx").unwrap(),
            SecretVerdict::Acceptable
        );
        assert_eq!(judge(&"a".repeat(40)).unwrap(), SecretVerdict::WellKnown);
        assert_eq!(
            judge("09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7").unwrap(),
            SecretVerdict::WellKnown
        );
        let fresh = generate_secret();
        assert_eq!(judge_secret(&fresh).unwrap(), SecretVerdict::Acceptable);
        assert_ne!(fresh.expose_secret(), generate_secret().expose_secret());
    }

    #[test]
    fn refuses_weak_keys() {
        assert!(matches!(
            hs256(&SecretString::from("short")),
            Err(KeyError::SecretTooShort)
        ));
        assert!(matches!(generate_rsa(1024), Err(KeyError::RsaTooShort)));
        assert!(matches!(
            RetiredKey::Public {
                pem: "not a key".into(),
                rsa: RsaScheme::Rs256
            }
            .load(),
            Err(KeyError::Invalid(..))
        ));
    }

    #[test]
    fn secrets_get_distinct_ids_that_do_not_contain_them() {
        let a = hs256(&SecretString::from("a".repeat(32))).unwrap();
        let b = hs256(&SecretString::from("b".repeat(32))).unwrap();
        assert_ne!(a.kid, b.kid);
        assert!(!a.kid.contains("aaaa"));
    }
}
