//! The use cases of the authorization code flow, a module per use case: [`clients`]
//! (registering them), [`authorize`] (judging a request, issuing a code to a signed-in
//! person), [`exchange`] (the code for tokens, with PKCE and, under `openid`, an ID token)
//! and [`logout`] (RP-initiated). This module holds the service, its ports and policy.

mod authorize;
mod clients;
mod device;
mod exchange;
mod logout;
mod machine;

pub use authorize::{
    AuthorizeError, AuthorizeParams, AuthorizeRequest, ErrorCode, MAX_RESOURCES, NextStep, Prompt,
    ResourceAsked,
};
pub use clients::{MAX_SECRET_OVERLAP, NewClient, RegisterClientError, RotateSecretError};
pub use device::{DeviceEntryError, DevicePolicy, DeviceRequest, DeviceStart};
pub use exchange::{ClientCredentials, CodeExchange, CodeGrant, ExchangeError};
pub use logout::{Logout, LogoutError, LogoutRequest};
pub use machine::{ApiAccessError, ClientCredentialsRequest, MAX_API_ACCESS, NewApiAccess};

use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::audience;
use super::client::{
    Client, ClientId, ClientKind, ClientName, MAX_REDIRECT_URIS, RedirectUri, RedirectUriError,
};
use super::code::{
    AuthorizationCode, CODE_LIFETIME, CodeChallenge, Nonce, State, is_code_verifier,
};
use super::ports::{
    AuthorizationCodeRepository, ClientRepository, IdClaims, IdTokenSigner, InsertClientError,
    Redemption,
};
use crate::audit::{Audit, AuditKind};
use crate::clock::Clock;
use crate::error::{RepositoryError, ValidationErrors};
use crate::ports::{
    AccessTokenService, OpaqueTokens, SessionRepository, TokenError, UserRepository,
};
use crate::ports::{GrantedAccess, SessionTokens};
use crate::scope::{Scope, ScopeSet};
use crate::session::{Caller, Session, SessionId, SessionLifetimes};
use crate::throttle::Bucket;
use crate::user::User;

/// Deployment choices of the flow.
#[derive(Debug, Clone)]
pub struct OAuthPolicy {
    /// The issuer identifier (`server.public_url`), sent as `iss` with every code.
    pub issuer: String,
    pub sessions: SessionLifetimes,
    /// Clients defined by the deployment rather than registered (Swagger UI's): found like
    /// registered ones, never stored, listed, replaced or removed.
    pub built_in: Vec<Client>,
    pub mfa: crate::mfa::MfaPolicy,
    /// gatehouse's own API's identifier (`jwt.audience`): a `resource` naming it asks for a
    /// token for gatehouse's own API.
    pub audience: String,
}

/// The adapters the flow runs on.
#[derive(Clone)]
pub struct OAuthPorts {
    pub clients: Arc<dyn ClientRepository>,
    /// The registered APIs clients may be given access to.
    pub apis: Arc<dyn crate::apis::ApiRepository>,
    pub codes: Arc<dyn AuthorizationCodeRepository>,
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub tokens: Arc<dyn AccessTokenService>,
    pub id_tokens: Arc<dyn IdTokenSigner>,
    pub opaque: Arc<dyn OpaqueTokens>,
    pub clock: Arc<dyn Clock>,
    /// Bounds wrong client secrets per client and per network.
    pub throttle: crate::throttle::Throttle,
    pub audit: Audit,
}

#[derive(Clone)]
pub struct OAuthService {
    ports: OAuthPorts,
    policy: OAuthPolicy,
    /// Client secrets this instance saw accepted (by digest), and when.
    accepted: Arc<exchange::AcceptedSecrets>,
    /// The device authorization grant's requests, when it is served.
    devices: Option<(
        Arc<dyn crate::oauth::device::DeviceAuthorizationRepository>,
        DevicePolicy,
    )>,
}

impl OAuthService {
    pub fn new(ports: OAuthPorts, policy: OAuthPolicy) -> Self {
        Self {
            ports,
            policy,
            accepted: Arc::default(),
            devices: None,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.policy.issuer
    }

    /// Whether `openid` can be granted: ID tokens need an asymmetric signing key.
    pub fn signs_id_tokens(&self) -> bool {
        self.ports.id_tokens.signs_id_tokens()
    }

    /// The issuer of a person's tokens for registered APIs.
    fn api_tokens(&self) -> audience::ApiTokens {
        audience::ApiTokens::new(
            self.ports.apis.clone(),
            self.ports.clients.clone(),
            self.ports.tokens.clone(),
        )
    }

    /// Deletes codes that expired (redeemed or not); the housekeeping task calls it.
    pub async fn purge_codes(&self) -> Result<u64, RepositoryError> {
        self.ports.codes.purge(self.ports.clock.now()).await
    }
}

#[async_trait::async_trait]
impl crate::reauth::ClientTrust for OAuthService {
    async fn is_first_party(&self, client: &ClientId) -> Result<bool, RepositoryError> {
        Ok(self
            .client(client.as_str())
            .await?
            .is_some_and(|client| client.first_party))
    }
}
