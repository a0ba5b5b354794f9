//! Sealing at rest with XChaCha20-Poly1305: what gatehouse must store but must be able to
//! read back (TOTP secrets, queued emails). A sealed value reads
//! `v1.<key id>.<base64url(nonce ‖ ciphertext)>`; the associated data (an account's or a
//! message's id) binds it to its row, so a value copied elsewhere does not open. Keys are
//! rotated by making a new one current and keeping the old ones as retired keys, which
//! still open what they sealed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};

const NONCE_BYTES: usize = 24;
const VERSION: &str = "v1";

/// What a sealing key is for: keys for different purposes derived from one configured
/// secret are unrelated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// TOTP secrets.
    MfaSecrets,
    /// Emails waiting in the queue.
    QueuedMail,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::MfaSecrets => b"gatehouse mfa secrets\0",
            Purpose::QueuedMail => b"gatehouse queued mail\0",
        }
    }
}

/// An encryption key derived from a configured secret string.
pub struct SealingKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl SealingKey {
    /// The key of TOTP secrets a configured secret (at least 32 bytes, e.g. from
    /// `gatehouse gen-secret`) stands for.
    pub fn from_secret(secret: &SecretString) -> Self {
        Self::derive(secret, Purpose::MfaSecrets)
    }

    /// The key for `purpose` a configured secret stands for: its SHA-256 under a label of
    /// the purpose's own, so the same string used elsewhere (say as a JWT secret, or for
    /// another purpose) gives an unrelated key.
    pub fn derive(secret: &SecretString, purpose: Purpose) -> Self {
        let key = SecretBox::new(Box::new(<[u8; 32]>::from(Sha256::digest(
            [purpose.label(), secret.expose_secret().as_bytes()].concat(),
        ))));
        let id = Sha256::digest(key.expose_secret())
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect();
        let cipher = XChaCha20Poly1305::new_from_slice(key.expose_secret())
            .expect("32 bytes is the key size");
        Self { id, cipher }
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The current key, which seals, and retired keys, which only open.
pub struct Keyring {
    current: SealingKey,
    retired: Vec<SealingKey>,
}

impl Keyring {
    pub fn new(current: SealingKey, retired: Vec<SealingKey>) -> Self {
        Self { current, retired }
    }

    /// `plain` sealed under the current key, bound to `aad`.
    pub fn seal(&self, aad: &str, plain: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: aad.as_bytes(),
                },
            )
            .expect("encrypting in memory cannot fail");
        let sealed = [nonce.as_slice(), &ciphertext].concat();
        format!(
            "{VERSION}.{}.{}",
            self.current.id,
            URL_SAFE_NO_PAD.encode(sealed)
        )
    }

    /// What `sealed` holds, and whether a retired key sealed it. Fails, saying why, when it
    /// is not a sealed value, was sealed under a key not configured, was altered, or is
    /// bound to other associated data.
    pub fn open(&self, aad: &str, sealed: &str) -> Result<(Vec<u8>, bool), &'static str> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(VERSION), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err("not a sealed value");
        };
        let (key, retired) = if id == self.current.id {
            (&self.current, false)
        } else {
            let key = self
                .retired
                .iter()
                .find(|key| key.id == id)
                .ok_or("sealed under a key that is not configured")?;
            (key, true)
        };
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| "not base64")?;
        if bytes.len() <= NONCE_BYTES {
            return Err("too short");
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce = XNonce::try_from(nonce).map_err(|_| "bad nonce")?;
        let plain = key
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| "does not open here")?;
        Ok((plain, retired))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: &str, purpose: Purpose) -> SealingKey {
        SealingKey::derive(&SecretString::from(c.repeat(32)), purpose)
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_data_its_key_and_unaltered() {
        let ring = Keyring::new(key("k", Purpose::QueuedMail), Vec::new());
        let sealed = ring.seal("row-1", b"a live token");
        assert!(!sealed.contains("a live token"));
        assert_eq!(
            ring.open("row-1", &sealed).unwrap(),
            (b"a live token".to_vec(), false)
        );
        assert!(ring.open("row-2", &sealed).is_err());
        let mut altered = sealed.clone();
        altered.push('A');
        assert!(ring.open("row-1", &altered).is_err());
        // The same secret for another purpose is another key.
        let other = Keyring::new(key("k", Purpose::MfaSecrets), Vec::new());
        assert!(other.open("row-1", &sealed).is_err());
        // A retired key still opens, and says so.
        let rotated = Keyring::new(
            key("n", Purpose::QueuedMail),
            vec![key("k", Purpose::QueuedMail)],
        );
        assert_eq!(
            rotated.open("row-1", &sealed).unwrap(),
            (b"a live token".to_vec(), true)
        );
    }
}
