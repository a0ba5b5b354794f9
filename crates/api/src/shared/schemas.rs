//! Bodies more than one feature uses (accounts, pages of lists, re-authentication), the
//! schema helpers and the text patterns the schemas state. Domain types never derive serde
//! or utoipa traits; conversion happens at the edge, in the API.

use chrono::{DateTime, Utc};
use gatehouse_domain::User;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

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

/// Scope names separated by ASCII whitespace, or nothing (which asks for the default):
/// gatehouse's own or a registered API's, whose names share one syntax
/// (`gatehouse_domain::apis::ScopeName`); which of them exist is data, not schema.
pub(crate) fn scope_list_pattern() -> String {
    let name = r"[A-Za-z0-9][A-Za-z0-9:._/-]{0,63}";
    format!(r"^\s*(?:{name}(?:[ \t\n\f\r]+{name})*)?\s*$")
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
    /// A personal access token (`gatehouse_domain::personal::looks_personal`).
    pub const PERSONAL_TOKEN: &str = r"^gatehouse_pat_[A-Za-z0-9_-]{43}$";
    /// A code from an authenticator app: six digits.
    pub const ONE_TIME_CODE: &str = r"^[0-9]{6}$";
    /// A recovery code as shown (`k7qm-2xvd-9fp4-hw3a`), any case, dashes and spaces
    /// anywhere but first.
    pub const RECOVERY_CODE: &str = r"^[A-Za-z0-9][A-Za-z0-9 -]{0,63}$";
    /// An upstream provider's id (`gatehouse_domain::upstream::ProviderId`).
    pub const PROVIDER_ID: &str = r"^[a-z0-9][a-z0-9_-]{0,31}$";
    /// A client's id (`gatehouse_domain::oauth::ClientId`).
    pub const CLIENT_ID: &str = r"^[A-Za-z0-9._-]{1,64}$";
    /// An API's identifier (`gatehouse_domain::apis::ApiIdentifier`): `https://` or
    /// `urn:`, then printable ASCII but `#`. Looser than the parser, which reads the URI.
    pub const API_IDENTIFIER: &str = r"^(https://|urn:)[!-\x22$-~]+$";
    /// A registered API's scope name (`gatehouse_domain::apis::ScopeName`).
    pub const API_SCOPE_NAME: &str = r"^[A-Za-z0-9][A-Za-z0-9:._/-]{0,63}$";
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
    /// How many items match, counted up to the offset plus 10,000: beyond that the count
    /// stops and `total_exact` is false.
    pub total: u64,
    /// Whether `total` is the exact number of matching items; when false, more match.
    pub total_exact: bool,
    pub limit: u64,
    pub offset: u64,
}

impl<T: ToSchema> PageResponse<T> {
    pub fn from_paged<D>(paged: gatehouse_domain::Paged<D>, map: impl Fn(&D) -> T) -> Self {
        Self {
            items: paged.items.iter().map(map).collect(),
            total: paged.total,
            total_exact: paged.total_is_exact(),
            limit: paged.page.limit(),
            offset: paged.page.offset(),
        }
    }
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

/// A request was accepted; what follows happens by email.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"detail": "If an account exists for this address, an email with a reset link is on its way."}))]
pub struct AcceptedResponse {
    pub detail: &'static str,
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
            let personal = format!("gatehouse_pat_{text}");
            assert_eq!(
                matches(PERSONAL_TOKEN, &personal),
                gatehouse_domain::personal::looks_personal(&personal),
                "{personal:?}"
            );
        }
        assert!(!matches(PERSONAL_TOKEN, token));
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

    #[test]
    fn provider_ids_match_their_pattern_exactly() {
        use gatehouse_domain::upstream::ProviderId;
        let samples = [
            "google",
            "corp-sso",
            "x_1",
            "",
            "Google",
            "-x",
            "a b",
            "é",
            &"a".repeat(33),
        ];
        for id in samples {
            assert_eq!(
                matches(PROVIDER_ID, id),
                ProviderId::parse(id).is_ok(),
                "{id:?}"
            );
        }
    }

    #[test]
    fn api_scope_names_match_their_pattern_exactly_and_identifiers_the_parser_accepts() {
        use gatehouse_domain::apis::{ApiIdentifier, ScopeName};
        let long = "a".repeat(65);
        for name in [
            "orders:read",
            "v1/x_y-z.w",
            "",
            ":x",
            "a b",
            "é",
            long.as_str(),
        ] {
            assert_eq!(
                matches(API_SCOPE_NAME, name),
                ScopeName::parse(name).is_ok(),
                "{name:?}"
            );
        }
        // Every identifier the parser accepts matches the pattern (the pattern is looser).
        for identifier in [
            "https://orders.example.com",
            "urn:example:orders",
            "https://api.example.com/v1/",
        ] {
            assert!(ApiIdentifier::parse(identifier).is_ok());
            assert!(matches(API_IDENTIFIER, identifier), "{identifier}");
        }
        for refused in ["orders", "https://x#y", "urn:a b", "urn:a\u{1}"] {
            assert!(!matches(API_IDENTIFIER, refused), "{refused:?}");
            assert!(ApiIdentifier::parse(refused).is_err(), "{refused:?}");
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
                PERSONAL_TOKEN,
                CLIENT_ID,
                REDIRECT_URI,
                ONE_TIME_CODE,
                RECOVERY_CODE,
                PROVIDER_ID,
                API_IDENTIFIER,
                API_SCOPE_NAME,
            ];
            assert!(
                ours.contains(&pattern.as_str()) || pattern == super::scope_list_pattern(),
                "{pattern}"
            );
        }
    }
}
