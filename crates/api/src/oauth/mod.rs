//! gatehouse as an OAuth 2.0 authorization server and OpenID Connect provider, the API
//! side: discovery, userinfo, revocation and introspection ([`oidc`]), the signing keys
//! ([`jwks`]) and client registration ([`clients`]). The browser side of the flow (the
//! authorization endpoint and its pages) is `gatehouse-pages`; the token endpoint is
//! [`crate::auth`].

mod clients;
mod device;
mod jwks;
mod oidc;

use actix_web::web;
use utoipa::OpenApi;

/// Discovery, keys, userinfo, revocation and introspection: outside `/api/v1`.
pub fn configure_provider(cfg: &mut web::ServiceConfig) {
    cfg.configure(jwks::configure)
        .configure(oidc::configure)
        .configure(device::configure);
}

/// Client registration, under `/api/v1`.
pub fn configure_clients(cfg: &mut web::ServiceConfig) {
    clients::configure(cfg);
}

#[derive(OpenApi)]
#[openapi(
    paths(
        jwks::jwks,
        oidc::discovery,
        oidc::userinfo,
        oidc::userinfo_by_post,
        oidc::revoke,
        oidc::introspect,
        device::device_authorization,
        clients::list,
        clients::create,
        clients::get_client,
        clients::remove,
        clients::rotate_secret,
        clients::get_api_access,
        clients::set_api_access,
    ),
    components(schemas(
        jwks::Jwk,
        jwks::JwkSet,
        oidc::ProviderMetadata,
        oidc::UserInfo,
        oidc::UserinfoForm,
        oidc::TokenForm,
        oidc::IntrospectionResponse,
        device::DeviceAuthorizationForm,
        device::DeviceAuthorizationResponse,
        clients::NewClientRequest,
        clients::ClientResponse,
        clients::RegisteredClient,
        clients::RotateSecretRequest,
        clients::RotatedSecret,
        clients::ApiAccessList,
        clients::ApiAccessEntry,
    ))
)]
pub struct Doc;
