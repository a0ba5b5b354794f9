//! The start-up secrets: the HS256 signing secret and the key that seals TOTP secrets. Each
//! is the configured one, judged by the key ring's secret policy
//! (`gatehouse_security::judge_secret`); in development without one, a random secret
//! generated once into `data_dir` (mode 0600).

use std::io::Write;
use std::path::Path;

use gatehouse_security::keys::MIN_SECRET_BYTES;
use gatehouse_security::{SecretVerdict, generate_secret, judge_secret};
use secrecy::{ExposeSecret, SecretString};

use crate::error::StartupError;
use crate::settings::{JwtAlgorithm, Profile, Settings};

const SECRET_FILE: &str = "jwt-secret";
const MFA_KEY_FILE: &str = "mfa-key";

/// What to do about a missing or weak MFA key.
const MFA_HOW: &str = "set GATEHOUSE__MFA__ENCRYPTION_KEY (or `mfa.encryption_key` in the config file) to at least 32 random bytes, for example the output of `gatehouse gen-secret`";

/// The key that seals TOTP secrets at rest, and the retired ones that still open them.
pub fn mfa_keys(settings: &Settings) -> Result<(SecretString, Vec<SecretString>), StartupError> {
    let weak = |key: &SecretString| judge_secret(key).is_err();
    if let Some(key) = settings
        .mfa
        .retired_encryption_keys
        .iter()
        .find(|k| weak(k))
    {
        return Err(StartupError::Config(format!(
            "an mfa.retired_encryption_keys entry is {} bytes, shorter than {MIN_SECRET_BYTES}",
            key.expose_secret().len()
        )));
    }
    let current = match &settings.mfa.encryption_key {
        Some(key) if weak(key) => {
            return Err(StartupError::Config(format!(
                "the MFA encryption key is {} bytes, shorter than {MIN_SECRET_BYTES}: {MFA_HOW}",
                key.expose_secret().len()
            )));
        }
        Some(key) => key.clone(),
        None if settings.profile == Profile::Production => {
            return Err(StartupError::Config(format!(
                "no MFA encryption key is configured and the profile is production: {MFA_HOW}"
            )));
        }
        None => development_file(
            &settings.data_dir,
            MFA_KEY_FILE,
            "GATEHOUSE__MFA__ENCRYPTION_KEY",
        )?,
    };
    Ok((current, settings.mfa.retired_encryption_keys.clone()))
}

/// What to do about a missing or weak secret, in every message that refuses one.
const HOW: &str = "set GATEHOUSE__JWT__SECRET (or `jwt.secret` in the config file) to at least 32 random bytes, for example the output of `gatehouse gen-secret`";

/// The secret to sign HS256 tokens with, or why the service must not start.
pub fn resolve(settings: &Settings) -> Result<SecretString, StartupError> {
    match &settings.jwt.secret {
        Some(secret) => match judge_secret(secret) {
            Ok(SecretVerdict::Acceptable) => Ok(secret.clone()),
            Ok(SecretVerdict::WellKnown) if settings.profile == Profile::Production => {
                Err(StartupError::Config(format!(
                    "the JWT secret is a well-known example value, so anyone could forge tokens: {HOW}"
                )))
            }
            Ok(SecretVerdict::WellKnown) => {
                tracing::warn!(
                    "the JWT secret is a well-known example value; never use it in production"
                );
                Ok(secret.clone())
            }
            // The one way a secret fails the policy: `KeyError::SecretTooShort`.
            Err(_) => Err(StartupError::Config(format!(
                "the JWT secret is {} bytes, shorter than the {MIN_SECRET_BYTES} HS256 needs: {HOW}",
                secret.expose_secret().len()
            ))),
        },
        // Asymmetric algorithms sign with key files; the secret only backs HS256.
        None if settings.jwt.algorithm != JwtAlgorithm::HS256 => Ok(generate_secret()),
        None if settings.profile == Profile::Production => Err(StartupError::Config(format!(
            "no JWT secret is configured and the profile is production: {HOW}"
        ))),
        None => development_file(&settings.data_dir, SECRET_FILE, "GATEHOUSE__JWT__SECRET"),
    }
}

/// The secret kept in `data_dir/file`, generated there (mode 0600) the first time.
fn development_file(
    data_dir: &Path,
    file: &str,
    variable: &str,
) -> Result<SecretString, StartupError> {
    let path = data_dir.join(file);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_owned();
        if existing.len() >= MIN_SECRET_BYTES {
            return Ok(SecretString::from(existing));
        }
    }
    std::fs::create_dir_all(data_dir)?;
    let secret = generate_secret();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path)?;
    file.write_all(secret.expose_secret().as_bytes())?;
    tracing::warn!(
        path = %path.display(),
        "no {variable} configured: generated a development secret; set it in production"
    );
    Ok(secret)
}
