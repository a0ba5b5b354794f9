//! The bodies of sign-up and of the token endpoint.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::shared::schemas::{one_of_schema, scope_list_pattern};

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
    /// The `ceremony` of `POST /api/v1/auth/passkey` (passkey grant).
    pub ceremony: Option<String>,
    /// What `navigator.credentials.get` returned, as JSON (passkey grant).
    pub credential: Option<String>,
    /// The `device_code` of `POST /oauth2/device_authorization` (device code grant).
    pub device_code: Option<String>,
    /// The registered API the token is for (RFC 8707): for the client credentials grant,
    /// and for the code and refresh grants one of the APIs the authorization request named
    /// (gatehouse's own API's identifier, `jwt.audience`, asks for a token for gatehouse).
    /// The password and passkey grants give tokens for gatehouse's own API only.
    #[schema(max_length = 255)]
    pub resource: Option<String>,
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
             Refresh grant: the session's scopes when absent (for a registered API's token, \
             those granted on that API); may narrow them, never widen. Client credentials \
             grant: some of the scopes the client was given on the API; all when absent.",
        ))
        .build()
}

fn grant_type_schema() -> utoipa::openapi::Object {
    one_of_schema(
        [
            "password",
            "refresh_token",
            "authorization_code",
            "client_credentials",
            super::MFA_OTP_GRANT,
            super::PASSKEY_GRANT,
            super::MFA_PASSKEY_GRANT,
            super::DEVICE_CODE_GRANT,
        ],
        "`password` (log in), `refresh_token` (refresh), `authorization_code` (a code from `/oauth2/authorize`), `client_credentials` (a client's own token for a registered API), `urn:gatehouse:params:oauth:grant-type:mfa-otp` (the second factor after a `mfa_required` answer), `urn:gatehouse:params:oauth:grant-type:passkey` (a passkey sign-in begun at `/api/v1/auth/passkey`), `urn:gatehouse:params:oauth:grant-type:mfa-passkey` (a passkey as the second factor, begun at `/api/v1/auth/passkey/second-factor`) or `urn:ietf:params:oauth:grant-type:device_code` (a device's poll, RFC 8628).",
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
    /// pair. Using it twice revokes the session. Absent for the client credentials grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// With the `openid` scope (authorization code grant): the ID token, a JWT signed by
    /// the key in the JWKS document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}
