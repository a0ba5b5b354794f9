//! TOTP authenticators (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, one step of skew)
//! with `totp-rs`, their secrets sealed at rest with XChaCha20-Poly1305, and recovery
//! codes. Implements the domain's `Authenticators` port.
//!
//! A sealed secret reads `v1.<key id>.<base64url(nonce ‖ ciphertext)>`. The account's id is
//! the associated data, so a sealed secret copied to another account does not open. The
//! key id names the key that sealed it: keys are rotated by making a new one current and
//! keeping the old one among the retired keys; each secret is sealed again under the
//! current key the next time its code is accepted.
//!
//! Recovery codes carry 80 random bits (16 base32 characters), so, as for opaque tokens, a
//! fast digest (SHA-256) is all that is stored of them: there is nothing to brute-force,
//! and checking one must not cost ten password hashes.

use chrono::{DateTime, Utc};
use gatehouse_domain::mfa::{Authenticators, Enrolment, OtpError, RECOVERY_CODES, SealedSecret};
use gatehouse_domain::ports::TokenDigest;
use gatehouse_domain::{Email, UserId};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::sealing::Keyring;
pub use crate::sealing::SealingKey;

/// Bytes of a new TOTP secret: 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;
/// Characters of a recovery code (base32, 5 bits each): 80 bits.
const RECOVERY_CHARS: usize = 16;
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// TOTP under the current key, with retired keys that still open older secrets.
pub struct TotpAuthenticators {
    issuer: String,
    keys: Keyring,
}

impl TotpAuthenticators {
    /// `issuer` names the service in authenticator apps (`otpauth://totp/<issuer>:<email>`).
    pub fn new(issuer: impl Into<String>, current: SealingKey, retired: Vec<SealingKey>) -> Self {
        Self {
            issuer: issuer.into().replace(':', " "),
            keys: Keyring::new(current, retired),
        }
    }

    fn seal(&self, user: UserId, secret: &[u8]) -> SealedSecret {
        SealedSecret::new(self.keys.seal(&user.to_string(), secret))
    }

    /// The secret, and whether it was sealed under a retired key.
    fn open(
        &self,
        user: UserId,
        sealed: &SealedSecret,
    ) -> Result<(SecretBox<[u8]>, bool), OtpError> {
        let (secret, retired) = self
            .keys
            .open(&user.to_string(), sealed.as_str())
            .map_err(OtpError::Unreadable)?;
        Ok((SecretBox::from(secret.into_boxed_slice()), retired))
    }

    fn totp(&self, secret: Vec<u8>, account: &str) -> Totp {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(6)
            .with_skew(1)
            .with_step_duration(30)
            .with_secret(Secret::from(secret))
            .with_issuer(Some(self.issuer.as_str()))
            .with_account_name(account.replace(':', " "))
            .build_noncompliant()
    }
}

impl Authenticators for TotpAuthenticators {
    fn enrol(&self, user: UserId, account: &Email) -> (SealedSecret, Enrolment) {
        let mut secret = vec![0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut secret);
        let sealed = self.seal(user, &secret);
        let totp = self.totp(secret, account.as_str());
        let uri = totp.to_url().unwrap_or_default();
        let enrolment = Enrolment {
            secret: SecretString::from(totp.secret().to_base32()),
            uri: SecretString::from(uri),
        };
        (sealed, enrolment)
    }

    fn check(
        &self,
        user: UserId,
        sealed: &SealedSecret,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, OtpError> {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        let (secret, _) = self.open(user, sealed)?;
        let Ok(time) = u64::try_from(now.timestamp()) else {
            return Ok(None);
        };
        let totp = self.totp(secret.expose_secret().to_vec(), "");
        Ok(totp
            .check(code, time)
            .and_then(|step| i64::try_from(step).ok()))
    }

    fn reseal(&self, user: UserId, sealed: &SealedSecret) -> Option<SealedSecret> {
        match self.open(user, sealed) {
            Ok((secret, true)) => Some(self.seal(user, secret.expose_secret())),
            _ => None,
        }
    }

    fn recovery_codes(&self) -> Vec<SecretString> {
        let mut rng = rand::rng();
        (0..RECOVERY_CODES)
            .map(|_| {
                let chars: Vec<char> = (0..RECOVERY_CHARS)
                    .map(|_| BASE32[(rng.next_u32() % 32) as usize] as char)
                    .collect();
                let groups: Vec<String> = chars.chunks(4).map(|c| c.iter().collect()).collect();
                SecretString::from(groups.join("-"))
            })
            .collect()
    }

    fn recovery_digest(&self, code: &SecretString) -> Option<TokenDigest> {
        let normalized: String = code
            .expose_secret()
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if normalized.len() != RECOVERY_CHARS || !normalized.bytes().all(|b| BASE32.contains(&b)) {
            return None;
        }
        let digest = Sha256::digest(format!("recovery:{normalized}").as_bytes());
        Some(TokenDigest::new(
            digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authenticators() -> TotpAuthenticators {
        TotpAuthenticators::new(
            "gatehouse",
            SealingKey::from_secret(&SecretString::from("k".repeat(32))),
            Vec::new(),
        )
    }

    /// RFC 6238 Appendix B, SHA-1: the secret `12345678901234567890` at 59 s gives
    /// 94287082 (8 digits); its last 6 digits are the 6-digit code.
    #[test]
    fn codes_follow_rfc_6238() {
        let auth = authenticators();
        let user = UserId::generate();
        let sealed = auth.seal(user, b"12345678901234567890");
        let at = |secs| DateTime::from_timestamp(secs, 0).unwrap();
        assert_eq!(
            auth.check(user, &sealed, "287082", at(59)).unwrap(),
            Some(1)
        );
        // One step of skew either way, not two.
        assert_eq!(
            auth.check(user, &sealed, "287082", at(89)).unwrap(),
            Some(1)
        );
        assert_eq!(auth.check(user, &sealed, "287082", at(119)).unwrap(), None);
        assert_eq!(auth.check(user, &sealed, "28708", at(59)).unwrap(), None);
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_account_and_with_its_key() {
        let auth = authenticators();
        let user = UserId::generate();
        let sealed = auth.seal(user, b"12345678901234567890");
        assert!(!sealed.as_str().contains("12345678901234567890"));
        assert!(auth.open(UserId::generate(), &sealed).is_err());

        let rotated = TotpAuthenticators::new(
            "gatehouse",
            SealingKey::from_secret(&SecretString::from("n".repeat(32))),
            vec![SealingKey::from_secret(&SecretString::from("k".repeat(32)))],
        );
        let resealed = rotated
            .reseal(user, &sealed)
            .expect("sealed under a retired key");
        assert!(
            rotated
                .open(user, &resealed)
                .is_ok_and(|(_, retired)| !retired)
        );
        assert!(auth.open(user, &resealed).is_err());
    }

    #[test]
    fn recovery_codes_are_random_and_read_however_typed() {
        let auth = authenticators();
        let codes = auth.recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let first = codes[0].expose_secret();
        assert_eq!(first.len(), 19);
        assert_ne!(first, codes[1].expose_secret());
        let typed = SecretString::from(first.replace('-', " ").to_uppercase());
        assert_eq!(
            auth.recovery_digest(&typed),
            auth.recovery_digest(&codes[0])
        );
        assert_eq!(auth.recovery_digest(&SecretString::from("nope")), None);
    }
}
