//! What every handler can reach: the use cases, wired to their adapters by the server.

use std::sync::Arc;

use gatehouse_domain::audit::Audit;
use gatehouse_domain::mfa::MfaService;
use gatehouse_domain::oauth::OAuthService;
use gatehouse_domain::recovery::RecoveryService;
use gatehouse_domain::throttle::Throttle;
use gatehouse_domain::upstream::UpstreamService;
use gatehouse_domain::{AuthService, UserService};
use gatehouse_security::CsrfKey;
use gatehouse_security::keys::PublicJwk;

use crate::cookies::Cookies;

/// Shared, cheaply cloned application state.
#[derive(Clone)]
pub struct AppState {
    pub auth: AuthService,
    /// Personal access tokens: making, listing, revoking them.
    pub personal: gatehouse_domain::personal::PersonalTokens,
    /// The APIs registered behind gatehouse (resource servers).
    pub apis: gatehouse_domain::apis::ApiService,
    /// Signing in through upstream identity providers.
    pub upstream: UpstreamService,
    /// Passkeys: registering them, signing in with them.
    pub passkeys: gatehouse_domain::passkeys::PasskeyService,
    /// Clients and the authorization code flow (OpenID Connect provider).
    pub oauth: OAuthService,
    pub users: UserService,
    /// Multi-factor authentication of accounts.
    pub mfa: MfaService,
    pub recovery: RecoveryService,
    /// Delivers queued emails; admins list and retry them through it.
    pub courier: gatehouse_domain::courier::Courier,
    /// Wakes this instance's courier when an email is queued here.
    pub mail_wake: Arc<tokio::sync::Notify>,
    pub throttle: Throttle,
    pub audit: Audit,
    /// The public keys of the key ring, for the JWKS document (read once at start-up).
    pub public_keys: Arc<Vec<PublicJwk>>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<Vec<std::net::IpAddr>>,
    /// The hosted pages' cookie names and flags.
    pub cookies: Cookies,
    /// The `alg` of ID tokens; `None` when the key ring signs with a shared HS256 secret.
    pub id_token_alg: Option<&'static str>,
    /// The key of the hosted pages' CSRF tokens (from the MFA key, which every instance
    /// shares).
    pub csrf: Arc<CsrfKey>,
}
