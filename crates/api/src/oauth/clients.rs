//! `/api/v1/clients`: registering the OAuth clients that sign people in through the
//! authorization code flow (admins). The `gatehouse clients` command does the same.

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, SecondsFormat, Utc};
use gatehouse_domain::oauth::{Client, NewApiAccess, NewClient};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::shared::responses::{
    BadRequest, ClientIdTaken, ClientNotFound, Protected, PublicClient, ValidationFailed,
};
use gatehouse_http::extractors::{CurrentUser, scopes};
use gatehouse_http::json::Json;
use gatehouse_http::problem::{ApiError, CLIENT_NOT_FOUND};
use gatehouse_http::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get_client)
        .service(remove)
        .service(rotate_secret)
        .service(get_api_access)
        .service(set_api_access);
}

/// A client to register.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"id": "spa", "name": "Example SPA", "public": true,
    "redirect_uris": ["https://app.example.com/callback"], "first_party": true}))]
pub struct NewClientRequest {
    /// The `client_id`.
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,64}$", min_length = 1, max_length = 64)]
    pub id: String,
    /// The name people see on the consent page.
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 100
    )]
    pub name: String,
    /// A browser or native app: no secret, PKCE required. Otherwise a secret is returned
    /// once.
    #[serde(default)]
    pub public: bool,
    /// Redirect URIs, matched exactly: `https`, `http` on a loopback address (any port), or
    /// an app's own scheme containing a dot; no fragment. At least one, unless the client
    /// uses the client credentials or device grant, or is a resource server.
    #[serde(default)]
    #[schema(schema_with = redirect_uris)]
    pub redirect_uris: Vec<String>,
    /// Where `/oauth2/logout` may send the browser afterwards.
    #[serde(default)]
    #[schema(schema_with = post_logout_redirect_uris)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Part of the same service: no consent page.
    #[serde(default)]
    pub first_party: bool,
    /// An API that accepts gatehouse's tokens: it may introspect them (RFC 7662).
    /// Confidential clients only.
    #[serde(default)]
    pub resource_server: bool,
    /// May use the client credentials grant (tokens for itself on the APIs it is given
    /// access to, `PUT /api/v1/clients/{id}/apis`). Confidential clients only.
    #[serde(default)]
    pub client_credentials: bool,
    /// May use the device authorization grant (RFC 8628): a device without a browser whose
    /// person approves it on gatehouse's `/device` page. Public or confidential.
    #[serde(default)]
    pub device_code: bool,
}

fn redirect_uris() -> utoipa::openapi::Array {
    crate::shared::schemas::redirect_uris_schema(0)
}

fn post_logout_redirect_uris() -> utoipa::openapi::Array {
    crate::shared::schemas::redirect_uris_schema(0)
}

/// A registered client. Its secret is never shown again.
#[derive(Serialize, ToSchema)]
pub struct ClientResponse {
    pub id: String,
    pub name: String,
    /// `public` or `confidential`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub first_party: bool,
    /// May introspect tokens.
    pub resource_server: bool,
    /// May use the client credentials grant.
    pub client_credentials: bool,
    /// May use the device authorization grant.
    pub device_code: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
}

impl From<&Client> for ClientResponse {
    fn from(client: &Client) -> Self {
        let uris = |uris: &[gatehouse_domain::oauth::RedirectUri]| {
            uris.iter().map(|uri| uri.as_str().to_owned()).collect()
        };
        Self {
            id: client.id.to_string(),
            name: client.name.as_str().to_owned(),
            kind: client.kind.as_str(),
            redirect_uris: uris(&client.redirect_uris),
            post_logout_redirect_uris: uris(&client.post_logout_redirect_uris),
            first_party: client.first_party,
            resource_server: client.resource_server,
            client_credentials: client.client_credentials,
            device_code: client.device_code,
            created_at: rfc3339(client.created_at),
        }
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A client just registered, with a confidential client's secret (shown this once).
#[derive(Serialize, ToSchema)]
pub struct RegisteredClient {
    #[serde(flatten)]
    pub client: ClientResponse,
    /// The secret of a confidential client, for `client_secret_basic` or
    /// `client_secret_post`. Only its digest is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// The registered clients, by id (admins).
#[utoipa::path(
    operation_id = "list_clients",
    context_path = "/api/v1",
    tag = "admin",
    security(("oauth2" = ["users:read"])),
    responses(
        (status = 200, description = "The clients", body = Vec<ClientResponse>),
        Protected,
    )
)]
#[get("/clients")]
pub async fn list(
    _admin: CurrentUser<scopes::UsersRead>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let clients = state.oauth.clients().await?;
    Ok(HttpResponse::Ok().json(clients.iter().map(ClientResponse::from).collect::<Vec<_>>()))
}

/// Register a client (admins). A confidential client's secret is in this answer only.
#[utoipa::path(
    operation_id = "create_client",
    context_path = "/api/v1",
    tag = "admin",
    request_body = NewClientRequest,
    security(("oauth2" = ["users:write"])),
    responses(
        (status = 201, description = "Registered", body = RegisteredClient),
        (status = 400, response = BadRequest),
        Protected,
        (status = 409, response = ClientIdTaken),
        (status = 422, response = ValidationFailed),
    )
)]
#[post("/clients")]
pub async fn create(
    _admin: CurrentUser<scopes::UsersWrite>,
    state: web::Data<AppState>,
    body: Json<NewClientRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let (client, secret) = state
        .oauth
        .register_client(NewClient {
            id: body.id,
            name: body.name,
            public: body.public,
            redirect_uris: body.redirect_uris,
            post_logout_redirect_uris: body.post_logout_redirect_uris,
            first_party: body.first_party,
            resource_server: body.resource_server,
            client_credentials: body.client_credentials,
            device_code: body.device_code,
        })
        .await?;
    Ok(HttpResponse::Created().json(RegisteredClient {
        client: ClientResponse::from(&client),
        client_secret: secret.map(|secret| secret.expose_secret().to_owned()),
    }))
}

/// One client (admins).
#[utoipa::path(
    context_path = "/api/v1",
    tag = "admin",
    params(("id" = String, Path, description = "The client's id", pattern = r"^[A-Za-z0-9._-]{1,64}$")),
    security(("oauth2" = ["users:read"])),
    responses(
        (status = 200, description = "The client", body = ClientResponse),
        Protected,
        (status = 404, response = ClientNotFound),
    )
)]
#[get("/clients/{id}")]
pub async fn get_client(
    _admin: CurrentUser<scopes::UsersRead>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let client = state
        .oauth
        .registered_client(&id)
        .await?
        .ok_or(ApiError::ResourceNotFound(CLIENT_NOT_FOUND))?;
    Ok(HttpResponse::Ok().json(ClientResponse::from(&client)))
}

/// Remove a client (admins): its codes go, and its sessions end at once.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "admin",
    params(("id" = String, Path, description = "The client's id", pattern = r"^[A-Za-z0-9._-]{1,64}$")),
    security(("oauth2" = ["users:write"])),
    responses(
        (status = 204, description = "Removed"),
        Protected,
        (status = 404, response = ClientNotFound),
    )
)]
#[delete("/clients/{id}")]
pub async fn remove(
    _admin: CurrentUser<scopes::UsersWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if state.oauth.remove_client(&id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::ResourceNotFound(CLIENT_NOT_FOUND))
    }
}

/// How long the secret being replaced stays good.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"overlap_seconds": 86400}))]
pub struct RotateSecretRequest {
    /// Seconds the present secret is still accepted beside the new one (default one day,
    /// at most 30 days; 0 ends it now).
    #[serde(default = "one_day", deserialize_with = "whole_seconds")]
    #[schema(minimum = 0, maximum = 2592000, default = 86400)]
    pub overlap_seconds: u32,
}

fn one_day() -> u32 {
    86_400
}

/// A whole number of seconds as JSON Schema reads an integer: `60` or `60.0`.
fn whole_seconds<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    let whole = number
        .as_u64()
        .or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(u32::MAX))
                .map(|f| f as u64)
        })
        .and_then(|n| u32::try_from(n).ok());
    whole.ok_or_else(|| serde::de::Error::custom("must be a whole number of seconds, from 0"))
}

/// A new secret, shown once.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"client_secret": "Jm9v4f0K3sYxq1H2b7WcT8eL5nR6uA0dPzQyXgVhC4k",
    "previous_secret_expires_at": "2026-12-08T10:00:00Z"}))]
pub struct RotatedSecret {
    pub client_secret: String,
    /// Until when the secret it replaces is still accepted.
    pub previous_secret_expires_at: String,
}

/// Rotate a confidential client's secret (admins): a new secret, in this answer only; the
/// present one stays good for `overlap_seconds` so the client's servers can move to the
/// new one (a secret retired by an earlier rotation ends now).
#[utoipa::path(
    context_path = "/api/v1",
    tag = "admin",
    params(("id" = String, Path, description = "The client's id", pattern = r"^[A-Za-z0-9._-]{1,64}$")),
    request_body = RotateSecretRequest,
    security(("oauth2" = ["users:write"])),
    responses(
        (status = 200, description = "Rotated", body = RotatedSecret),
        (status = 400, response = BadRequest),
        Protected,
        (status = 404, response = ClientNotFound),
        (status = 409, response = PublicClient),
        (status = 422, response = ValidationFailed),
    )
)]
#[post("/clients/{id}/secret")]
pub async fn rotate_secret(
    _admin: CurrentUser<scopes::UsersWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: Json<RotateSecretRequest>,
) -> Result<HttpResponse, ApiError> {
    let overlap = chrono::Duration::seconds(body.overlap_seconds.into());
    let (secret, until) = state.oauth.rotate_secret(&id, overlap).await?;
    Ok(HttpResponse::Ok().json(RotatedSecret {
        client_secret: secret.expose_secret().to_owned(),
        previous_secret_expires_at: until.to_rfc3339_opts(SecondsFormat::Secs, true),
    }))
}

/// The scopes of one registered API a client may ask for.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"identifier": "https://orders.example.com", "scopes": ["orders:read"]}))]
pub struct ApiAccessEntry {
    /// The registered API's identifier.
    #[schema(
        pattern = r"^(https://|urn:)[!-\x22$-~]+$",
        min_length = 3,
        max_length = 255
    )]
    pub identifier: String,
    /// Some of that API's scopes.
    #[schema(min_items = 1, max_items = 50)]
    pub scopes: Vec<String>,
}

/// Everything a client may ask for on registered APIs.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"apis": [{"identifier": "https://orders.example.com", "scopes": ["orders:read"]}]}))]
pub struct ApiAccessList {
    /// One entry per API, each named once; an empty list takes every API away.
    #[schema(max_items = 50)]
    pub apis: Vec<ApiAccessEntry>,
}

impl From<Vec<gatehouse_domain::oauth::ApiAccess>> for ApiAccessList {
    fn from(access: Vec<gatehouse_domain::oauth::ApiAccess>) -> Self {
        Self {
            apis: access
                .into_iter()
                .map(|entry| ApiAccessEntry {
                    identifier: entry.identifier.as_str().to_owned(),
                    scopes: entry.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
                })
                .collect(),
        }
    }
}

/// What a client may ask for on registered APIs (admins).
#[utoipa::path(
    operation_id = "get_client_api_access",
    context_path = "/api/v1",
    tag = "admin",
    params(("id" = String, Path, description = "The client's id", pattern = r"^[A-Za-z0-9._-]{1,64}$")),
    security(("oauth2" = ["users:read"])),
    responses(
        (status = 200, description = "The client's APIs and scopes", body = ApiAccessList),
        Protected,
        (status = 404, response = ClientNotFound),
    )
)]
#[get("/clients/{id}/apis")]
pub async fn get_api_access(
    _admin: CurrentUser<scopes::UsersRead>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let access = state
        .oauth
        .api_access(&id)
        .await?
        .ok_or(ApiError::ResourceNotFound(CLIENT_NOT_FOUND))?;
    Ok(HttpResponse::Ok().json(ApiAccessList::from(access)))
}

/// Set what a client may ask for on registered APIs (admins): the APIs and, per API, the
/// scopes, replacing what it had. The client credentials grant gives a client these
/// scopes; a person signing in to the client can give it no more.
#[utoipa::path(
    operation_id = "set_client_api_access",
    context_path = "/api/v1",
    tag = "admin",
    params(("id" = String, Path, description = "The client's id", pattern = r"^[A-Za-z0-9._-]{1,64}$")),
    request_body = ApiAccessList,
    security(("oauth2" = ["users:write"])),
    responses(
        (status = 200, description = "Set", body = ApiAccessList),
        (status = 400, response = BadRequest),
        Protected,
        (status = 404, response = ClientNotFound),
        (status = 422, response = ValidationFailed),
    )
)]
#[put("/clients/{id}/apis")]
pub async fn set_api_access(
    _admin: CurrentUser<scopes::UsersWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: Json<ApiAccessList>,
) -> Result<HttpResponse, ApiError> {
    let access = body
        .into_inner()
        .apis
        .into_iter()
        .map(|entry| NewApiAccess {
            identifier: entry.identifier,
            scopes: entry.scopes,
        })
        .collect();
    let stored = state.oauth.set_api_access(&id, access).await?;
    Ok(HttpResponse::Ok().json(ApiAccessList::from(stored)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_schemas_use_the_shared_patterns() {
        // `#[schema(pattern)]` takes literals only: they must equal the shared ones.
        let document = serde_json::to_value(crate::openapi::document()).unwrap();
        let schema = &document["components"]["schemas"]["NewClientRequest"]["properties"];
        assert_eq!(
            schema["id"]["pattern"],
            crate::shared::schemas::patterns::CLIENT_ID
        );
        assert_eq!(
            schema["name"]["pattern"],
            crate::shared::schemas::patterns::NOT_BLANK_LINE
        );
    }
}
