//! OAuth 2.0 clients and the authorization code flow with PKCE, which make gatehouse an
//! OpenID Connect provider: [`client`] (who may ask, and where answers go), [`code`] (what
//! a code binds), [`ports`] (their storage and ID-token signing) and [`service`] (the use
//! cases).

pub mod audience;
pub mod client;
pub mod code;
pub mod device;
pub mod ports;
pub mod service;

pub use client::{
    ApiAccess, Client, ClientId, ClientKind, ClientName, RedirectUri, RetiringSecret,
};
pub use code::{AuthorizationCode, CODE_LIFETIME, CodeChallenge, Nonce, State};
pub use ports::{
    AuthorizationCodeRepository, ClientRepository, IdClaims, IdTokenSigner, InsertClientError,
    Redemption,
};
pub use service::{
    ApiAccessError, AuthorizeError, AuthorizeParams, AuthorizeRequest, ClientCredentials,
    ClientCredentialsRequest, CodeExchange, CodeGrant, DeviceEntryError, DevicePolicy,
    DeviceRequest, DeviceStart, ErrorCode, ExchangeError, Logout, LogoutError, LogoutRequest,
    MAX_API_ACCESS, MAX_SECRET_OVERLAP, NewApiAccess, NewClient, NextStep, OAuthPolicy, OAuthPorts,
    OAuthService, Prompt, RegisterClientError, RotateSecretError,
};

#[cfg(test)]
mod tests;
