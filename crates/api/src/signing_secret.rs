//! The HS256 signing secret: the configured one, judged by the key ring's secret policy
//! (`gatehouse_security::judge_secret`); in development without one, a random secret
//! generated once into `data_dir` (mode 0600).

use std::io::Write;
use std::path::Path;

use gatehouse_security::keys::MIN_SECRET_BYTES;
use gatehouse_security::{SecretVerdict, generate_secret, judge_secret};
use secrecy::{ExposeSecret, SecretString};

use crate::settings::{JwtAlgorithm, Profile, Settings};
use crate::startup::StartupError;

const SECRET_FILE: &str = "jwt-secret";

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
        None => development_secret(&settings.data_dir),
    }
}

fn development_secret(data_dir: &Path) -> Result<SecretString, StartupError> {
    let path = data_dir.join(SECRET_FILE);
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
        "no JWT secret configured: generated a development secret; set GATEHOUSE__JWT__SECRET in production"
    );
    Ok(secret)
}
