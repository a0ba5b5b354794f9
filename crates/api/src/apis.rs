//! `/api/v1/apis`: the APIs registered behind gatehouse (resource servers), each with its
//! identifier (the `aud` of its tokens) and scopes (admins). The `gatehouse apis` command
//! does the same.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, SecondsFormat, Utc};
use gatehouse_domain::apis::{ApiId, NewApi, NewScope, RegisteredApi};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::shared::responses::{ApiNotFound, ApiTaken, BadRequest, Protected, ValidationFailed};
use gatehouse_http::extractors::{CurrentUser, scopes};
use gatehouse_http::json::Json;
use gatehouse_http::problem::{API_NOT_FOUND, ApiError};
use gatehouse_http::state::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list_apis, register_api, get_api, remove_api),
    components(schemas(NewApiRequest, NewScopeRequest, ApiResponse, ScopeResponse))
)]
pub struct Doc;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_apis)
        .service(register_api)
        .service(get_api)
        .service(remove_api);
}

/// An API to register.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"identifier": "https://orders.example.com", "name": "Orders",
    "scopes": [{"name": "orders:read", "description": "Read your orders"},
               {"name": "orders:refund", "description": "Refund any order", "roles": ["admin"]}]}))]
pub struct NewApiRequest {
    /// What its tokens carry as `aud`: an `https://` URI (its host in lower case) or a
    /// `urn:`, in printable ASCII, no fragment.
    #[schema(
        pattern = r"^(https://|urn:)[!-\x22$-~]+$",
        min_length = 3,
        max_length = 255
    )]
    pub identifier: String,
    /// The name people see on the consent page.
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 100
    )]
    pub name: String,
    /// Its scopes, unique by name.
    #[schema(min_items = 1, max_items = 50)]
    pub scopes: Vec<NewScopeRequest>,
}

/// A scope to declare.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewScopeRequest {
    /// Its name in a token's `scope`; not one of gatehouse's own scopes nor OpenID
    /// Connect's.
    #[schema(
        pattern = r"^[A-Za-z0-9][A-Za-z0-9:._/-]{0,63}$",
        min_length = 1,
        max_length = 64
    )]
    pub name: String,
    /// What it allows, in words people read on the consent page.
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 200
    )]
    pub description: String,
    /// The roles that may hold it; every role when left out.
    #[serde(default)]
    #[schema(max_items = 2)]
    pub roles: Vec<RoleName>,
}

/// A role's name.
#[derive(Deserialize, Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    User,
    Admin,
}

/// A registered API.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0193a3a0-8f2c-7c3e-9a51-3c2f5e8b1d47",
    "identifier": "https://orders.example.com", "name": "Orders",
    "scopes": [{"name": "orders:read", "description": "Read your orders", "roles": ["admin", "user"]}],
    "created_at": "2026-12-07T10:00:00Z"}))]
pub struct ApiResponse {
    pub id: Uuid,
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<ScopeResponse>,
    pub created_at: String,
}

/// One of an API's scopes.
#[derive(Serialize, ToSchema)]
pub struct ScopeResponse {
    pub name: String,
    pub description: String,
    pub roles: Vec<String>,
}

impl From<&RegisteredApi> for ApiResponse {
    fn from(api: &RegisteredApi) -> Self {
        Self {
            id: api.id.as_uuid(),
            identifier: api.identifier.as_str().to_owned(),
            name: api.name.as_str().to_owned(),
            scopes: api
                .scopes
                .iter()
                .map(|scope| ScopeResponse {
                    name: scope.name.as_str().to_owned(),
                    description: scope.description.as_str().to_owned(),
                    roles: scope.roles.iter().map(|r| r.as_str().to_owned()).collect(),
                })
                .collect(),
            created_at: rfc3339(api.created_at),
        }
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The registered APIs (admins). gatehouse's own API (`jwt.audience`) is not among them:
/// its scopes are the ones of this document's security scheme.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "admin",
    security(("oauth2" = ["users:read"])),
    responses(
        (status = 200, description = "The APIs", body = Vec<ApiResponse>),
        Protected,
    )
)]
#[get("/apis")]
pub async fn list_apis(
    _admin: CurrentUser<scopes::UsersRead>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let apis = state.apis.list().await?;
    Ok(HttpResponse::Ok().json(apis.iter().map(ApiResponse::from).collect::<Vec<_>>()))
}

/// Register an API with its scopes (admins).
#[utoipa::path(
    context_path = "/api/v1",
    tag = "admin",
    request_body = NewApiRequest,
    security(("oauth2" = ["users:write"])),
    responses(
        (status = 201, description = "Registered", body = ApiResponse),
        (status = 400, response = BadRequest),
        Protected,
        (status = 409, response = ApiTaken),
        (status = 422, response = ValidationFailed),
    )
)]
#[post("/apis")]
pub async fn register_api(
    _admin: CurrentUser<scopes::UsersWrite>,
    state: web::Data<AppState>,
    body: Json<NewApiRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let api = state
        .apis
        .register(NewApi {
            identifier: body.identifier,
            name: body.name,
            scopes: body
                .scopes
                .into_iter()
                .map(|scope| NewScope {
                    name: scope.name,
                    description: scope.description,
                    roles: scope
                        .roles
                        .into_iter()
                        .map(|role| match role {
                            RoleName::User => "user".to_owned(),
                            RoleName::Admin => "admin".to_owned(),
                        })
                        .collect(),
                })
                .collect(),
        })
        .await?;
    Ok(HttpResponse::Created().json(ApiResponse::from(&api)))
}

/// One registered API (admins).
#[utoipa::path(
    context_path = "/api/v1",
    tag = "admin",
    params(("id" = Uuid, Path, description = "The API's id")),
    security(("oauth2" = ["users:read"])),
    responses(
        (status = 200, description = "The API", body = ApiResponse),
        Protected,
        (status = 404, response = ApiNotFound),
    )
)]
#[get("/apis/{id}")]
pub async fn get_api(
    _admin: CurrentUser<scopes::UsersRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let api = state
        .apis
        .get(ApiId::from_uuid(id.into_inner()))
        .await?
        .ok_or(ApiError::ResourceNotFound(API_NOT_FOUND))?;
    Ok(HttpResponse::Ok().json(ApiResponse::from(&api)))
}

/// Remove a registered API (admins).
#[utoipa::path(
    context_path = "/api/v1",
    tag = "admin",
    params(("id" = Uuid, Path, description = "The API's id")),
    security(("oauth2" = ["users:write"])),
    responses(
        (status = 204, description = "Removed"),
        Protected,
        (status = 404, response = ApiNotFound),
    )
)]
#[delete("/apis/{id}")]
pub async fn remove_api(
    _admin: CurrentUser<scopes::UsersWrite>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    if state
        .apis
        .remove_by_id(ApiId::from_uuid(id.into_inner()))
        .await?
    {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::ResourceNotFound(API_NOT_FOUND))
    }
}
