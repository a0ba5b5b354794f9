//! RFC 6238 codes computed here, independently of the server's TOTP code path, and the
//! helpers that enrol an account and finish a two-step login.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha1::Sha1;

use crate::{PASSWORD, TestApp};

/// The 6-digit code of the base32 `secret` for the 30-second step holding `at` (RFC 6238
/// with HMAC-SHA-1, RFC 4226 dynamic truncation).
pub fn code_at(secret: &str, at: DateTime<Utc>) -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(secret.trim_end_matches('=').as_bytes())
        .expect("a base32 secret");
    let counter = (at.timestamp() / 30) as u64;
    let mut mac = Hmac::<Sha1>::new_from_slice(&key).expect("any key length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", binary % 1_000_000)
}

/// An account with MFA on: its base32 secret and its recovery codes.
pub struct Enrolled {
    pub secret: String,
    pub recovery_codes: Vec<String>,
}

/// Enrols the account of `token` at `now` (the server's clock): start, then confirm with
/// the current code.
pub async fn enrol(app: &TestApp, token: &str, now: DateTime<Utc>) -> Enrolled {
    let started = app
        .client
        .post(app.url("/api/v1/users/me/mfa/totp"))
        .bearer_auth(token)
        .json(&json!({"current_password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::OK, "enrolment started");
    let started: Value = started.json().await.unwrap();
    let secret = started["secret"].as_str().unwrap().to_owned();
    let confirmed = app
        .client
        .post(app.url("/api/v1/users/me/mfa/totp/confirm"))
        .bearer_auth(token)
        .json(&json!({"code": code_at(&secret, now)}))
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), StatusCode::OK, "enrolment confirmed");
    let confirmed: Value = confirmed.json().await.unwrap();
    let recovery_codes = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    Enrolled {
        secret,
        recovery_codes,
    }
}

/// The first step of a login of an account with MFA: the `mfa_token` of its 403.
pub async fn mfa_token(app: &TestApp, email: &str) -> String {
    let response = app.login_response(email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "mfa_required");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "mfa_required");
    body["mfa_token"].as_str().unwrap().to_owned()
}

/// The second step: `grant_type=…mfa-otp` with `factor` (`otp` or `recovery_code`).
pub async fn second_step(
    app: &TestApp,
    mfa_token: &str,
    factor: (&str, &str),
) -> reqwest::Response {
    app.token(&[
        (
            "grant_type",
            "urn:gatehouse:params:oauth:grant-type:mfa-otp",
        ),
        ("mfa_token", mfa_token),
        factor,
    ])
    .await
}

/// The claims of a JWT, unverified (the tests that need verification do it elsewhere).
pub fn claims(jwt: &str) -> Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

#[cfg(test)]
mod tests {
    /// RFC 6238 Appendix B: the SHA-1 secret `12345678901234567890` gives 94287082 at 59 s
    /// and 07081804 at 1111111109 s (8 digits; the last 6 are the 6-digit codes).
    #[test]
    fn the_tests_codes_follow_rfc_6238() {
        let secret = data_encoding::BASE32_NOPAD.encode(b"12345678901234567890");
        let at = |secs| chrono::DateTime::from_timestamp(secs, 0).unwrap();
        assert_eq!(super::code_at(&secret, at(59)), "287082");
        assert_eq!(super::code_at(&secret, at(1_111_111_109)), "081804");
    }
}
