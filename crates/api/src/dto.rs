//! Request and response bodies, with their OpenAPI schemas. Domain types never derive
//! serde or utoipa traits; conversion happens here, at the edge.

use chrono::{DateTime, Utc};
use gatehouse_domain::User;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A new account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery staple", "full_name": "Ada Lovelace"}))]
pub struct RegisterRequest {
    /// Normalized to lower case; must be unique.
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 8–128 characters; not a common password and not the email address.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 128)]
    pub password: SecretString,
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub full_name: Option<String>,
}

/// An account, as anyone allowed to see it sees it. Never carries a password hash.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019a4d3e-7b6f-7c52-9d7e-2f1a3b4c5d6e",
    "email": "ada@example.com",
    "full_name": "Ada Lovelace",
    "role": "user",
    "is_active": true,
    "is_verified": false,
    "created_at": "2026-11-23T10:00:00Z"
}))]
pub struct UserResponse {
    pub id: Uuid,
    pub email: String,
    pub full_name: Option<String>,
    #[schema(schema_with = role_schema)]
    pub role: String,
    pub is_active: bool,
    pub is_verified: bool,
    pub created_at: DateTime<Utc>,
    /// Whether the account has multi-factor authentication; in admins' views only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_enabled: Option<bool>,
}

impl UserResponse {
    /// The admins' view: with whether the account has MFA.
    pub fn with_mfa(self, enabled: bool) -> Self {
        Self {
            mfa_enabled: Some(enabled),
            ..self
        }
    }
}

impl From<&User> for UserResponse {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            full_name: user.full_name.as_ref().map(|n| n.as_str().to_owned()),
            role: user.role.as_str().to_owned(),
            is_active: user.is_active,
            is_verified: user.is_verified,
            created_at: user.created_at,
            mfa_enabled: None,
        }
    }
}

/// The form of `POST /api/v1/auth/token`: the password grant (RFC 6749 §4.3), the refresh
/// grant (§6) or the authorization code grant (§4.1.3, with PKCE: RFC 7636 §4.5).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenRequest {
    #[schema(schema_with = grant_type_schema)]
    pub grant_type: String,
    /// The account's email (password grant).
    pub username: Option<String>,
    /// The account's password (password grant).
    #[schema(format = Password)]
    pub password: Option<String>,
    /// The refresh token from the previous response (refresh grant).
    pub refresh_token: Option<String>,
    /// The code from the authorization redirect (authorization code grant).
    pub code: Option<String>,
    /// The redirect URI of the authorization request, exactly (authorization code grant).
    pub redirect_uri: Option<String>,
    /// The PKCE code verifier (authorization code grant; required when the request had a
    /// `code_challenge`).
    pub code_verifier: Option<String>,
    /// The client's id (authorization code grant), unless sent with HTTP Basic.
    pub client_id: Option<String>,
    /// A confidential client's secret (`client_secret_post`), unless sent with HTTP Basic.
    #[schema(format = Password)]
    pub client_secret: Option<String>,
    /// The token of a `mfa_required` answer (MFA grant).
    pub mfa_token: Option<String>,
    /// The authenticator's 6-digit code (MFA grant), or else `recovery_code`.
    pub otp: Option<String>,
    /// One of the account's recovery codes (MFA grant), instead of `otp`.
    pub recovery_code: Option<String>,
    /// Space-separated scopes. Password grant: all the account's role allows when absent.
    /// Refresh grant: the session's scopes when absent; may narrow them, never widen.
    #[schema(schema_with = scope_list_schema)]
    pub scope: Option<String>,
}

/// Scope names, separated by spaces: [`scope_list_pattern`].
fn scope_list_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some(scope_list_pattern()))
        .description(Some(
            "Space-separated scopes. Password grant: all the account's role allows when absent. \
             Refresh grant: the session's scopes when absent; may narrow them, never widen.",
        ))
        .build()
}

/// Known scope names separated by ASCII whitespace, or nothing (which asks for the default),
/// as `ScopeSet::parse` reads them.
pub(crate) fn scope_list_pattern() -> String {
    let names = gatehouse_domain::Scope::ALL
        .map(gatehouse_domain::Scope::as_str)
        .join("|");
    format!(r"^\s*(?:(?:{names})(?:[ \t\n\f\r]+(?:{names}))*)?\s*$")
}

fn grant_type_schema() -> utoipa::openapi::Object {
    one_of_schema(
        [
            "password",
            "refresh_token",
            "authorization_code",
            crate::routes::auth::MFA_OTP_GRANT,
        ],
        "`password` (log in), `refresh_token` (refresh), `authorization_code` (a code from `/oauth2/authorize`) or `urn:gatehouse:params:oauth:grant-type:mfa-otp` (the second factor after a `mfa_required` answer).",
    )
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl",
    "token_type": "bearer",
    "expires_in": 900,
    "refresh_token": "kq3V0o7mJ0rL1nHTCZyN0n6V6Q2mQxw9-1s8YlZpG0c",
    "scope": "me todos:read todos:write"
}))]
pub struct TokenResponse {
    /// A JWT (`typ: at+jwt`) to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single-use: exchange it at the token endpoint (`grant_type=refresh_token`) for a new
    /// pair. Using it twice revokes the session.
    pub refresh_token: String,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// With the `openid` scope (authorization code grant): the ID token, a JWT signed by
    /// the key in the JWKS document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Health of the service.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct HealthResponse {
    pub status: &'static str,
}

/// The patterns of the text rules, as the schemas state them (`gatehouse_domain::text`,
/// `FullName`, the emailed tokens). `pattern` takes only literals, so the schemas repeat
/// these; a test checks that every pattern of the document is one of them, and each of
/// them against the parser it describes.
pub mod patterns {
    /// One line: no control characters.
    pub const ONE_LINE: &str = r"^[^\x00-\x1F\x7F-\x9F]*$";
    /// One line with more than spaces in it (a title).
    pub const NOT_BLANK_LINE: &str =
        r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$";
    /// Lines: no control characters but line breaks and tabs.
    pub const LINES: &str = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$";
    /// An emailed token.
    pub const OPAQUE_TOKEN: &str = r"^[A-Za-z0-9_-]{43}$";
    /// A code from an authenticator app: six digits.
    pub const ONE_TIME_CODE: &str = r"^[0-9]{6}$";
    /// A recovery code as shown (`k7qm-2xvd-9fp4-hw3a`), any case, dashes and spaces
    /// anywhere but first.
    pub const RECOVERY_CODE: &str = r"^[A-Za-z0-9][A-Za-z0-9 -]{0,63}$";
    /// A client's id (`gatehouse_domain::oauth::ClientId`).
    pub const CLIENT_ID: &str = r"^[A-Za-z0-9._-]{1,64}$";
    /// What a redirect URI may look like (`gatehouse_domain::oauth::RedirectUri`): `https`,
    /// `http` on a loopback address, or a private-use scheme with a dot; no spaces, no
    /// fragment. Looser than the parser, which also judges the host's syntax.
    pub const REDIRECT_URI: &str = r"^((https://[^\s#/?@]+|http://(127\.0\.0\.1|\[::1\]|localhost)(:[0-9]{1,5})?)([/?][^\s#]*)?|[a-z][a-z0-9+-]*\.[a-z0-9+.-]*:[^\s#]*)$";
}

/// A list of redirect URIs, as [`patterns::REDIRECT_URI`] states each.
pub(crate) fn redirect_uris_schema(min_items: usize) -> utoipa::openapi::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(patterns::REDIRECT_URI))
                .max_length(Some(2_000)),
        )
        .min_items(Some(min_items))
        .max_items(Some(10))
        .build()
}

/// A string that is one of `values`.
pub(crate) fn one_of_schema(
    values: impl IntoIterator<Item = &'static str>,
    description: &str,
) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(values))
        .description(Some(description))
        .build()
}

/// `user`, `admin`, or `null` (which, like leaving it out, changes nothing).
pub(crate) fn role_or_null_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    let mut schema = role_schema();
    schema.schema_type = SchemaType::from_iter([Type::String, Type::Null]);
    if let Some(values) = schema.enum_values.as_mut() {
        values.push(serde_json::Value::Null);
    }
    schema
}

/// `user` or `admin`.
pub(crate) fn role_schema() -> utoipa::openapi::Object {
    one_of_schema(
        gatehouse_domain::Role::ALL.map(gatehouse_domain::Role::as_str),
        "`user` or `admin`.",
    )
}

/// The audit event types, from the domain's list.
pub(crate) fn event_type_schema() -> utoipa::openapi::Object {
    one_of_schema(
        gatehouse_domain::audit::AuditKind::ALL.map(gatehouse_domain::audit::AuditKind::as_str),
        "The kind of event.",
    )
}

/// Lets a JSON field tell "absent" (`None`) from "null" (`Some(None)`).
pub(crate) fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A page of a list.
#[derive(Serialize, ToSchema)]
pub struct PageResponse<T: ToSchema> {
    pub items: Vec<T>,
    /// How many items match in all.
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

impl<T: ToSchema> PageResponse<T> {
    pub fn from_paged<D>(paged: gatehouse_domain::Paged<D>, map: impl Fn(&D) -> T) -> Self {
        Self {
            items: paged.items.iter().map(map).collect(),
            total: paged.total,
            limit: paged.page.limit(),
            offset: paged.page.offset(),
        }
    }
}

/// Changes to your own account. Changing `email` needs `current_password` and makes the
/// account unverified; `"full_name": null` clears the name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"full_name": "Ada King"}))]
pub struct UpdateMeRequest {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub full_name: Option<Option<String>>,
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    /// Needed with a new `email` when the account has a password (re-authentication).
    #[schema(value_type = Option<String>, format = Password)]
    pub current_password: Option<SecretString>,
}

/// A password change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery staple", "new_password": "a brand new passphrase"}))]
pub struct ChangePasswordRequest {
    #[schema(value_type = String, format = Password)]
    pub current_password: SecretString,
    /// 8–128 characters; not a common password and not your email.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 128)]
    pub new_password: SecretString,
}

/// Confirms the deletion of your account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery staple"}))]
pub struct DeleteAccountRequest {
    /// Needed when the account has a password (re-authentication).
    #[schema(value_type = Option<String>, format = Password)]
    pub current_password: Option<SecretString>,
}

/// Re-authentication for a change to how the account signs in: the current password when
/// the account has one; an account without a password sends `{}` within a few minutes of
/// signing in.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery staple"}))]
pub struct ReauthenticationRequest {
    #[schema(value_type = Option<String>, format = Password)]
    pub current_password: Option<SecretString>,
}

/// What an admin may change about a user; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "admin"}))]
pub struct AdminUpdateUserRequest {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub full_name: Option<Option<String>>,
    #[schema(schema_with = role_or_null_schema)]
    pub role: Option<String>,
    pub is_active: Option<bool>,
    pub is_verified: Option<bool>,
}

/// One of your login sessions.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019a4d3e-9d21-7e3f-9b5c-1d2e3f4a5b6c",
    "created_at": "2026-11-23T10:00:00Z",
    "last_used_at": "2026-11-23T12:00:00Z",
    "user_agent": "Mozilla/5.0",
    "ip": "203.0.113.7",
    "current": true
}))]
pub struct SessionResponse {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// When a refresh token of this session was last exchanged.
    pub last_used_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// Whether this is the session of the token making the request.
    pub current: bool,
}

impl SessionResponse {
    pub fn new(session: &gatehouse_domain::Session, current: gatehouse_domain::SessionId) -> Self {
        Self {
            id: session.id.as_uuid(),
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            user_agent: session.client.user_agent.clone(),
            ip: session.client.ip.clone(),
            current: session.id == current,
        }
    }
}

/// Asks for a password-reset email.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com"}))]
pub struct PasswordResetRequest {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
}

/// Sets a new password with the token from a reset email.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "kq3V0o7mJ0rL1nHTCZyN0n6V6Q2mQxw9-1s8YlZpG0c", "new_password": "a brand new passphrase"}))]
pub struct PasswordResetConfirm {
    /// The `token` parameter of the emailed link.
    #[schema(value_type = String, min_length = 43, max_length = 43, pattern = r"^[A-Za-z0-9_-]{43}$")]
    pub token: SecretString,
    /// 8–128 characters; not a common password and not your email.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 128)]
    pub new_password: SecretString,
}

/// Confirms an email address with the token from a verification email.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "kq3V0o7mJ0rL1nHTCZyN0n6V6Q2mQxw9-1s8YlZpG0c"}))]
pub struct VerifyEmailConfirm {
    /// The `token` parameter of the emailed link.
    #[schema(value_type = String, min_length = 43, max_length = 43, pattern = r"^[A-Za-z0-9_-]{43}$")]
    pub token: SecretString,
}

/// A request was accepted; what follows happens by email.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"detail": "If an account exists for this address, an email with a reset link is on its way."}))]
pub struct AcceptedResponse {
    pub detail: &'static str,
}

/// One security event of the audit trail.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019a4d3e-aa10-7b2c-8d3e-4f5a6b7c8d9e",
    "type": "role_changed",
    "user_id": "019a4d3e-7b6f-7c52-9d7e-2f1a3b4c5d6e",
    "actor_id": "019a4d3e-1111-7c52-9d7e-2f1a3b4c5d6e",
    "ip": null,
    "user_agent": null,
    "detail": "user -> admin",
    "created_at": "2026-11-23T10:00:00Z"
}))]
pub struct AuditEventResponse {
    pub id: Uuid,
    #[serde(rename = "type")]
    #[schema(schema_with = event_type_schema)]
    pub kind: &'static str,
    pub user_id: Option<Uuid>,
    /// The admin who acted, when not the user.
    pub actor_id: Option<Uuid>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&gatehouse_domain::audit::AuditEvent> for AuditEventResponse {
    fn from(event: &gatehouse_domain::audit::AuditEvent) -> Self {
        Self {
            id: event.id.as_uuid(),
            kind: event.kind.as_str(),
            user_id: event.user_id.map(|id| id.as_uuid()),
            actor_id: event.actor_id.map(|id| id.as_uuid()),
            ip: event.client.ip.clone(),
            user_agent: event.client.user_agent.clone(),
            detail: event.detail.clone(),
            created_at: event.at,
        }
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_domain::FullName;
    use gatehouse_domain::ports::is_opaque_token;
    use gatehouse_domain::text::{LongText, Title};
    use regex::Regex;

    use super::patterns::*;

    /// Texts on the edges of the rules: blanks, control characters (C0, DEL, C1), Unicode
    /// spaces and line separators, and ordinary text.
    const SAMPLES: &[&str] = &[
        "milk",
        "  milk  ",
        "",
        " ",
        "\u{a0}",
        "\u{3000}x",
        "a\nb",
        "a\r\nb",
        "tab\there",
        "nul\u{0}",
        "del\u{7f}",
        "c1\u{85}",
        "c1\u{9f}",
        "x\u{2028}y",
        "é 🦀",
        "\u{b}",
        "\u{c}",
        "milk\n",
        "\tmilk",
    ];

    fn matches(pattern: &str, text: &str) -> bool {
        Regex::new(pattern).unwrap().is_match(text)
    }

    #[test]
    fn every_redirect_uri_the_parser_accepts_matches_the_pattern() {
        let accepted = [
            "https://app.example.com/callback",
            "https://app.example.com:8443/cb?x=1",
            "http://127.0.0.1/cb",
            "http://127.0.0.1:53121/cb",
            "http://localhost:8080",
            "http://[::1]:9000/",
            "com.example.app:/oauth2redirect",
        ];
        for uri in accepted {
            assert!(
                gatehouse_domain::oauth::RedirectUri::parse(uri).is_ok(),
                "{uri}"
            );
            assert!(matches(REDIRECT_URI, uri), "{uri}");
        }
        for refused in [
            "",
            "http://app.example.com/cb",
            "https://app.example.com/cb#x",
            "javascript:alert(1)",
            "https://user:pw@app.example.com/",
            "https://app.example.com/a b",
        ] {
            assert!(
                gatehouse_domain::oauth::RedirectUri::parse(refused).is_err(),
                "{refused}"
            );
            assert!(!matches(REDIRECT_URI, refused), "{refused}");
        }
    }

    #[test]
    fn each_pattern_says_what_its_parser_accepts() {
        for &text in SAMPLES {
            let says = |pattern| matches(pattern, text);
            assert_eq!(
                says(NOT_BLANK_LINE),
                Title::parse(text).is_ok(),
                "title {text:?}"
            );
            assert_eq!(
                says(ONE_LINE),
                FullName::parse_optional(Some(text)).is_ok(),
                "full name {text:?}"
            );
            assert_eq!(
                says(LINES),
                LongText::parse_optional(Some(text)).is_ok(),
                "long text {text:?}"
            );
            assert_eq!(
                says(NOT_BLANK_LINE),
                gatehouse_domain::oauth::ClientName::parse(text).is_ok(),
                "client name {text:?}"
            );
            assert_eq!(
                says(CLIENT_ID),
                gatehouse_domain::oauth::ClientId::parse(text).is_ok(),
                "client id {text:?}"
            );
        }
        let token = "kq3V0o7mJ0rL1nHTCZyN0n6V6Q2mQxw9-1s8YlZpG0c";
        for text in [
            token,
            &token[1..],
            &format!("{token}x"),
            &token.replace('-', "+"),
            "",
        ] {
            assert_eq!(
                matches(OPAQUE_TOKEN, text),
                is_opaque_token(text),
                "{text:?}"
            );
        }
    }

    /// The code patterns take what the authenticators and the recovery codes the server
    /// issues look like, and refuse what would read as no code at all.
    #[test]
    fn the_code_patterns_take_the_codes_the_server_issues() {
        for code in ["000000", "123456"] {
            assert!(matches(ONE_TIME_CODE, code), "{code}");
        }
        for code in ["", " 123456", "12345", "1234567", "12345a"] {
            assert!(!matches(ONE_TIME_CODE, code), "{code:?}");
        }
        for code in [
            "k7qm-2xvd-9fp4-hw3a",
            "K7QM2XVD9FP4HW3A",
            "k7qm 2xvd 9fp4 hw3a",
        ] {
            assert!(matches(RECOVERY_CODE, code), "{code}");
        }
        for code in ["", " ", "-k7qm", "k7qm\u{0}"] {
            assert!(!matches(RECOVERY_CODE, code), "{code:?}");
        }
    }

    /// `pattern` takes only literals: each one in the document must be one of ours.
    #[test]
    fn every_pattern_of_the_document_is_one_of_ours() {
        fn patterns(value: &serde_json::Value, found: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    for (key, value) in map {
                        match (key.as_str(), value) {
                            ("pattern", serde_json::Value::String(pattern)) => {
                                found.push(pattern.clone())
                            }
                            _ => patterns(value, found),
                        }
                    }
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| patterns(v, found)),
                _ => {}
            }
        }
        let document = serde_json::to_value(crate::openapi::document()).unwrap();
        let mut found = Vec::new();
        patterns(&document, &mut found);
        assert!(found.len() >= 8, "{found:?}");
        for pattern in found {
            let ours = [
                ONE_LINE,
                NOT_BLANK_LINE,
                LINES,
                OPAQUE_TOKEN,
                CLIENT_ID,
                REDIRECT_URI,
                ONE_TIME_CODE,
                RECOVERY_CODE,
            ];
            assert!(
                ours.contains(&pattern.as_str()) || pattern == super::scope_list_pattern(),
                "{pattern}"
            );
        }
    }
}
