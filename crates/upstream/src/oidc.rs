//! OpenID Connect providers (and Google, one of them): discovery, cached and fetched again
//! when an ID token names a key it does not hold (key rotation); the authorization
//! request with PKCE, state and nonce; the code exchange; every check of the ID token
//! (signature, issuer, audience, expiry, nonce, by `openidconnect`); and RFC 9207's `iss`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use gatehouse_domain::upstream::{Asserted, Callback, FlowSecrets, UpstreamError};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthenticationFlow, AuthorizationCode, ClaimsVerificationError,
    ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    ProviderMetadata, RedirectUrl, RequestTokenError, Scope, SignatureVerificationError,
    TokenResponse,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::http::Http;

/// How long discovery (and the keys with it) is trusted before it is fetched again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// The least time between two fetches: after a failure, or for a key no one holds.
const REFETCH_FLOOR: Duration = Duration::from_secs(30);

/// The discovery fields beyond the core ones that gatehouse reads.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct IssMetadata {
    /// RFC 9207: the provider sends `iss` with every authorization response.
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

impl AdditionalProviderMetadata for IssMetadata {}

type Metadata = ProviderMetadata<
    IssMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The relying-party client for one provider's discovery (its type names a dozen
/// parameters, so it is built where it is used).
macro_rules! client {
    ($oidc:expr, $metadata:expr) => {
        CoreClient::from_provider_metadata(
            (*$metadata).clone(),
            $oidc.client_id.clone(),
            $oidc.client_secret.clone(),
        )
        .set_redirect_uri($oidc.redirect.clone())
    };
}

#[derive(Default)]
struct Cache {
    metadata: Option<Arc<Metadata>>,
    fetched_at: Option<Instant>,
    /// Why the last fetch failed, when it did.
    failure: Option<String>,
}

/// One OpenID Connect provider.
pub struct Oidc {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: Option<ClientSecret>,
    scopes: Vec<String>,
    redirect: RedirectUrl,
    cache: RwLock<Cache>,
}

impl Oidc {
    pub fn new(
        issuer: &str,
        client_id: &str,
        client_secret: Option<&SecretString>,
        scopes: Vec<String>,
        redirect: RedirectUrl,
    ) -> Result<Self, String> {
        let issuer = IssuerUrl::new(issuer.to_owned())
            .map_err(|error| format!("the issuer `{issuer}` is not a URL: {error}"))?;
        Ok(Self {
            issuer,
            client_id: ClientId::new(client_id.to_owned()),
            client_secret: client_secret
                .map(|secret| ClientSecret::new(secret.expose_secret().to_owned())),
            scopes,
            redirect,
            cache: RwLock::new(Cache::default()),
        })
    }

    /// Whether discovery has not failed since it last worked.
    pub fn available(&self) -> bool {
        self.cache
            .try_read()
            .map_or(true, |cache| cache.failure.is_none())
    }

    /// The provider's discovery, from the cache while it is fresh; fetched again when it
    /// is stale, or when `stale_keys` says an ID token named a key it lacks (at most once
    /// per [`REFETCH_FLOOR`]).
    pub async fn metadata(&self, http: &Http, stale_keys: bool) -> Result<Arc<Metadata>, String> {
        {
            let cache = self.cache.read().await;
            let age = cache.fetched_at.map(|at| at.elapsed());
            if let (Some(metadata), Some(age)) = (&cache.metadata, age) {
                let fresh = age < DISCOVERY_TTL && !(stale_keys && age >= REFETCH_FLOOR);
                if fresh || (cache.failure.is_some() && age < REFETCH_FLOOR) {
                    return Ok(metadata.clone());
                }
            }
            if let (Some(failure), Some(age)) = (&cache.failure, age)
                && cache.metadata.is_none()
                && age < REFETCH_FLOOR
            {
                return Err(failure.clone());
            }
        }
        let mut cache = self.cache.write().await;
        let fetched = Metadata::discover_async(self.issuer.clone(), http).await;
        cache.fetched_at = Some(Instant::now());
        match fetched {
            Ok(metadata) => {
                let metadata = Arc::new(metadata);
                cache.metadata = Some(metadata.clone());
                cache.failure = None;
                Ok(metadata)
            }
            Err(error) => {
                let failure = format!(
                    "discovery at {} failed: {}",
                    self.issuer.as_str(),
                    chain(&error)
                );
                tracing::warn!(issuer = %self.issuer.as_str(), %failure, "an upstream provider's discovery failed");
                cache.failure = Some(failure.clone());
                // Keys known before keep working while the provider is away.
                cache.metadata.clone().ok_or(failure)
            }
        }
    }

    pub async fn authorization_url(
        &self,
        http: &Http,
        flow: &FlowSecrets,
        fresh: bool,
    ) -> Result<url::Url, UpstreamError> {
        let metadata = self
            .metadata(http, false)
            .await
            .map_err(UpstreamError::Unavailable)?;
        let client = client!(self, metadata);
        let state = flow.state.expose_secret().to_owned();
        let nonce = flow.nonce.expose_secret().to_owned();
        let mut request = client.authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            move || CsrfToken::new(state),
            move || Nonce::new(nonce),
        );
        for scope in self.scopes.iter().filter(|scope| *scope != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if fresh {
            request = request.add_prompt(CoreAuthPrompt::Login);
        }
        let verifier = PkceCodeVerifier::new(flow.pkce_verifier.expose_secret().to_owned());
        let (url, _, _) = request
            .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier))
            .url();
        Ok(url)
    }

    pub async fn complete(
        &self,
        http: &Http,
        callback: &Callback,
        flow: &FlowSecrets,
        signed_in_since: Option<DateTime<Utc>>,
    ) -> Result<Asserted, UpstreamError> {
        let metadata = self
            .metadata(http, false)
            .await
            .map_err(UpstreamError::Unavailable)?;
        let issuer = metadata.issuer().as_str();
        match &callback.iss {
            Some(iss) if iss != issuer => {
                return Err(UpstreamError::Refused(format!(
                    "the answer's iss `{iss}` is not the provider's issuer `{issuer}` (a mix-up)"
                )));
            }
            None if metadata
                .additional_metadata()
                .authorization_response_iss_parameter_supported =>
            {
                return Err(UpstreamError::Refused(
                    "the provider sends iss with its answers and this one has none".into(),
                ));
            }
            _ => {}
        }
        let client = client!(self, metadata);
        let exchange = client
            .exchange_code(AuthorizationCode::new(
                callback.code.expose_secret().to_owned(),
            ))
            .map_err(|error| UpstreamError::Unavailable(error.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(
                flow.pkce_verifier.expose_secret().to_owned(),
            ))
            .request_async(http)
            .await;
        let token = exchange.map_err(|error| match error {
            RequestTokenError::ServerResponse(answer) => UpstreamError::Refused(format!(
                "the token endpoint refused the code: {}",
                answer.error()
            )),
            RequestTokenError::Request(error) => UpstreamError::Unavailable(format!(
                "the token endpoint could not be reached: {}",
                chain(&error)
            )),
            other => {
                UpstreamError::Refused(format!("the token endpoint's answer: {}", chain(&other)))
            }
        })?;
        let id_token = token
            .id_token()
            .ok_or_else(|| UpstreamError::Refused("the token response has no ID token".into()))?;
        let nonce = Nonce::new(flow.nonce.expose_secret().to_owned());
        let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(claims) => claims.clone(),
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // The provider may have rotated its keys since discovery.
                let metadata = self
                    .metadata(http, true)
                    .await
                    .map_err(UpstreamError::Unavailable)?;
                let client = client!(self, metadata);
                id_token
                    .claims(&client.id_token_verifier(), &nonce)
                    .map_err(refused)?
                    .clone()
            }
            Err(error) => return Err(refused(error)),
        };
        // Asked to sign the person in again: a provider that says it did not is refused.
        if let (Some(since), Some(at)) = (signed_in_since, claims.auth_time())
            && at < since
        {
            return Err(UpstreamError::Refused(format!(
                "asked for a fresh sign-in, the provider answered one from {at}"
            )));
        }
        Ok(Asserted {
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|email| email.as_str().to_owned()),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims
                .name()
                .and_then(|name| name.get(None))
                .map(|name| name.as_str().to_owned()),
        })
    }
}

fn refused(error: ClaimsVerificationError) -> UpstreamError {
    UpstreamError::Refused(format!("the ID token: {}", chain(&error)))
}

/// An error and its causes, on one line.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
