//! The paths more than one part of the service names: each written once, here.

/// The authorization endpoint (the hosted pages serve it; discovery and Swagger UI name it).
pub const AUTHORIZE: &str = "/oauth2/authorize";

/// The token endpoint.
pub const TOKEN: &str = "/api/v1/auth/token";

/// The OpenAPI document.
pub const DOCUMENT: &str = "/api-docs/openapi.json";

/// Swagger UI's pages and assets.
pub const SWAGGER_UI: &str = "/swagger-ui/{_:.*}";

/// The hosted page where a person enters a device's user code (RFC 8628 `verification_uri`).
pub const DEVICE: &str = "/device";

/// The device authorization endpoint (RFC 8628 §3.1).
pub const DEVICE_AUTHORIZATION: &str = "/oauth2/device_authorization";
