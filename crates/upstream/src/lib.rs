//! Upstream identity providers: people sign in to gatehouse with an account they have
//! elsewhere. [`Upstreams`] implements the domain's
//! [`IdentityProviders`](gatehouse_domain::upstream::IdentityProviders) port for OpenID
//! Connect providers ([`oidc`], Google among them) and GitHub ([`github`]), every
//! back-channel call through [`http`] (no redirects, timeouts, a size limit).
//!
//! A provider that is misconfigured or unreachable never stops the server: its button
//! says it is unavailable, and `gatehouse upstream check` says why.

pub mod github;
pub mod http;
pub mod oidc;

use std::time::Duration;

use async_trait::async_trait;
use gatehouse_domain::upstream::{
    Asserted, Callback, FlowSecrets, IdentityProviders, ProviderId, ProviderInfo, UpstreamError,
};
use oauth2::RedirectUrl;
use secrecy::SecretString;

use crate::github::Github;
use crate::http::Http;
use crate::oidc::Oidc;

/// Google's issuer.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";

/// What a provider speaks, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// OpenID Connect, found by its issuer.
    Oidc { issuer: String },
    /// GitHub's OAuth 2.0 and API.
    Github {
        authorization_url: String,
        token_url: String,
        api_url: String,
    },
}

/// One provider as the operator configured it.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub id: ProviderId,
    pub name: String,
    pub protocol: Protocol,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub scopes: Vec<String>,
    pub allow_signup: bool,
    pub allowed_email_domains: Vec<String>,
    pub timeout: Duration,
    /// What is wrong with the settings, when something is: the provider stays unavailable.
    pub problem: Option<String>,
}

enum Engine {
    Oidc(Oidc),
    Github(Github),
    /// Misconfigured: the reason, for the operator.
    Broken(String),
}

struct Provider {
    config: ProviderConfig,
    http: Option<Http>,
    engine: Engine,
}

/// Every configured upstream provider.
pub struct Upstreams {
    providers: Vec<Provider>,
}

/// The redirect URI of provider `id`, to register at the provider:
/// `<public_url>/upstream/<id>/callback`.
pub fn redirect_uri(public_url: &str, id: &ProviderId) -> String {
    format!(
        "{}/upstream/{id}/callback",
        public_url.trim_end_matches('/')
    )
}

impl Upstreams {
    /// The providers of `configs`, answering at `public_url`. A provider whose settings
    /// cannot work is kept, unavailable, with the reason ([`Upstreams::check`]).
    pub fn new(configs: Vec<ProviderConfig>, public_url: &str) -> Self {
        let providers = configs
            .into_iter()
            .map(|config| {
                let http = Http::new(config.timeout);
                let engine = match (&http, engine(&config, public_url)) {
                    (Err(error), _) => Engine::Broken(format!("no HTTP client: {error}")),
                    (Ok(_), Ok(engine)) => engine,
                    (Ok(_), Err(reason)) => Engine::Broken(reason),
                };
                if let Engine::Broken(reason) = &engine {
                    tracing::warn!(provider = %config.id, %reason, "an upstream provider is misconfigured");
                }
                Provider {
                    http: http.ok(),
                    config,
                    engine,
                }
            })
            .collect();
        Self { providers }
    }

    fn find(&self, id: &ProviderId) -> Result<(&Provider, &Http), UpstreamError> {
        let provider = self
            .providers
            .iter()
            .find(|provider| &provider.config.id == id)
            .ok_or(UpstreamError::UnknownProvider)?;
        match (&provider.engine, &provider.http) {
            (Engine::Broken(reason), _) => Err(UpstreamError::Unavailable(reason.clone())),
            (_, Some(http)) => Ok((provider, http)),
            (_, None) => Err(UpstreamError::Unavailable("no HTTP client".into())),
        }
    }

    /// Fetches every OpenID Connect provider's discovery, so that buttons say at once
    /// which are unavailable (start-up runs it in the background).
    pub async fn warm(&self) {
        for provider in &self.providers {
            if let (Engine::Oidc(oidc), Some(http)) = (&provider.engine, &provider.http) {
                let _ = oidc.metadata(http, false).await;
            }
        }
    }

    /// Whether provider `id` can be used, in plain words: its settings, and for OpenID
    /// Connect its discovery and keys, fetched now.
    pub async fn check(&self, id: &ProviderId) -> Result<String, String> {
        let (provider, http) = self.find(id).map_err(|error| match error {
            UpstreamError::Unavailable(reason) => reason,
            other => other.to_string(),
        })?;
        match &provider.engine {
            Engine::Oidc(oidc) => {
                let metadata = oidc.metadata(http, true).await?;
                let keys = metadata.jwks().keys().len();
                if keys == 0 {
                    return Err(format!(
                        "discovery works, but the key set at {} holds no key",
                        metadata.jwks_uri().as_str()
                    ));
                }
                Ok(format!(
                    "discovery at {} works: authorization endpoint {}, {keys} signing key(s)",
                    metadata.issuer().as_str(),
                    metadata.authorization_endpoint().as_str(),
                ))
            }
            Engine::Github(_) => Ok(
                "GitHub has no discovery to fetch; the settings are complete (sign in once to try the client id and secret)"
                    .into(),
            ),
            Engine::Broken(reason) => Err(reason.clone()),
        }
    }

    /// The providers' settings as configured (for `gatehouse upstream list`).
    pub fn configs(&self) -> impl Iterator<Item = &ProviderConfig> {
        self.providers.iter().map(|provider| &provider.config)
    }
}

fn engine(config: &ProviderConfig, public_url: &str) -> Result<Engine, String> {
    if let Some(problem) = &config.problem {
        return Err(problem.clone());
    }
    if config.client_id.trim().is_empty() {
        return Err("no client_id is set".into());
    }
    let redirect = RedirectUrl::new(redirect_uri(public_url, &config.id))
        .map_err(|error| format!("server.public_url does not make a redirect URI: {error}"))?;
    let secret = config.client_secret.as_ref();
    Ok(match &config.protocol {
        Protocol::Oidc { issuer } => Engine::Oidc(Oidc::new(
            issuer,
            &config.client_id,
            secret,
            config.scopes.clone(),
            redirect,
        )?),
        Protocol::Github {
            authorization_url,
            token_url,
            api_url,
        } => {
            if secret.is_none() {
                return Err(
                    "GitHub needs a client secret (client_secret or client_secret_file)".into(),
                );
            }
            Engine::Github(Github::new(
                &config.client_id,
                secret,
                (authorization_url, token_url, api_url),
                config.scopes.clone(),
                redirect,
            )?)
        }
    })
}

#[async_trait]
impl IdentityProviders for Upstreams {
    fn providers(&self) -> Vec<ProviderInfo> {
        self.providers
            .iter()
            .map(|provider| ProviderInfo {
                id: provider.config.id.clone(),
                name: provider.config.name.clone(),
                allow_signup: provider.config.allow_signup,
                allowed_email_domains: provider.config.allowed_email_domains.clone(),
                available: match &provider.engine {
                    Engine::Oidc(oidc) => oidc.available(),
                    Engine::Github(_) => true,
                    Engine::Broken(_) => false,
                },
            })
            .collect()
    }

    async fn authorization_url(
        &self,
        provider: &ProviderId,
        flow: &FlowSecrets,
        fresh: bool,
    ) -> Result<url::Url, UpstreamError> {
        let (provider, http) = self.find(provider)?;
        match &provider.engine {
            Engine::Oidc(oidc) => oidc.authorization_url(http, flow, fresh).await,
            Engine::Github(github) => Ok(github.authorization_url(flow, fresh)),
            Engine::Broken(reason) => Err(UpstreamError::Unavailable(reason.clone())),
        }
    }

    async fn complete(
        &self,
        provider: &ProviderId,
        callback: &Callback,
        flow: &FlowSecrets,
        signed_in_since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Asserted, UpstreamError> {
        let (provider, http) = self.find(provider)?;
        match &provider.engine {
            Engine::Oidc(oidc) => oidc.complete(http, callback, flow, signed_in_since).await,
            // GitHub says nothing of when the person signed in.
            Engine::Github(github) => github.complete(http, callback, flow).await,
            Engine::Broken(reason) => Err(UpstreamError::Unavailable(reason.clone())),
        }
    }
}
