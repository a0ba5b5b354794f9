//! gatehouse's signing keys: found by discovery, kept for a while, fetched again for a key
//! id they do not hold (rotation), at most once per floor.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

/// Why gatehouse's keys could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key set, fetched again, has no key with the token's id.
    #[error("no published key has this id")]
    UnknownKey,
    /// A request to gatehouse failed (unreachable, a timeout, an error status).
    #[error("could not reach the issuer: {0}")]
    Fetch(String),
    /// gatehouse's answer was not what discovery or a key set should be.
    #[error("the issuer's answer is unusable: {0}")]
    Unusable(String),
}

/// What the verifier reads of the issuer's discovery document.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Discovery {
    issuer: String,
    jwks_uri: String,
    #[serde(default)]
    pub(crate) introspection_endpoint: Option<String>,
}

pub(crate) struct KeySource {
    pub(crate) issuer: String,
    pub(crate) jwks_uri: Option<String>,
    pub(crate) refetch_floor: Duration,
    pub(crate) max_age: Duration,
    pub(crate) timeout: Duration,
}

/// A key to verify with, and the one algorithm it verifies.
#[derive(Clone)]
pub(crate) struct Key {
    pub(crate) decoding: DecodingKey,
    pub(crate) algorithm: Algorithm,
}

#[derive(Default)]
struct Fetched {
    keys: HashMap<String, Key>,
    at: Option<Instant>,
}

pub(crate) struct KeyCache {
    source: KeySource,
    http: reqwest::Client,
    fetched: RwLock<Fetched>,
    discovered: std::sync::OnceLock<Discovery>,
    /// One fetch at a time; those who waited read what it brought.
    fetching: tokio::sync::Mutex<()>,
}

impl KeyCache {
    pub(crate) fn new(source: KeySource) -> Result<Self, KeyError> {
        let http = reqwest::Client::builder()
            .timeout(source.timeout)
            // A key set is fetched from where discovery says, never from where a redirect
            // would send it.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| KeyError::Fetch(error.to_string()))?;
        Ok(Self {
            source,
            http,
            fetched: RwLock::new(Fetched::default()),
            discovered: std::sync::OnceLock::new(),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The key `kid`, from the cache while it is fresh, else fetched again (at most once per
    /// floor for an id the cache lacks).
    pub(crate) async fn key(&self, kid: &str) -> Result<Key, KeyError> {
        if let Some(key) = self.cached(kid, |at| at.elapsed() < self.source.max_age) {
            return Ok(key);
        }
        let _fetching = self.fetching.lock().await;
        // Whoever held the lock may have fetched what we need.
        if let Some(key) = self.cached(kid, |at| at.elapsed() < self.source.max_age) {
            return Ok(key);
        }
        let last = self.fetched.read().expect("key cache lock").at;
        let stale = last.is_none_or(|at| at.elapsed() >= self.source.max_age);
        if !stale && last.is_some_and(|at| at.elapsed() < self.source.refetch_floor) {
            return Err(KeyError::UnknownKey);
        }
        let keys = self.fetch().await?;
        let mut fetched = self.fetched.write().expect("key cache lock");
        *fetched = Fetched {
            keys,
            at: Some(Instant::now()),
        };
        fetched.keys.get(kid).cloned().ok_or(KeyError::UnknownKey)
    }

    fn cached(&self, kid: &str, fresh: impl Fn(Instant) -> bool) -> Option<Key> {
        let fetched = self.fetched.read().expect("key cache lock");
        fetched.at.filter(|at| fresh(*at))?;
        fetched.keys.get(kid).cloned()
    }

    async fn fetch(&self) -> Result<HashMap<String, Key>, KeyError> {
        let jwks_uri = match &self.source.jwks_uri {
            Some(uri) => uri.clone(),
            None => self.discover().await?,
        };
        let set: JwkSet = self.get_json(&jwks_uri).await?;
        let keys: HashMap<_, _> = set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, usable(jwk)?)))
            .collect();
        tracing::debug!(keys = keys.len(), "fetched the issuer's signing keys");
        Ok(keys)
    }

    async fn discover(&self) -> Result<String, KeyError> {
        Ok(self.discovery().await?.jwks_uri)
    }

    /// The issuer's discovery document, fetched once: its `issuer` must be ours.
    pub(crate) async fn discovery(&self) -> Result<Discovery, KeyError> {
        if let Some(known) = self.discovered.get() {
            return Ok(known.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.source.issuer);
        let discovery: Discovery = self.get_json(&url).await?;
        if discovery.issuer.trim_end_matches('/') != self.source.issuer {
            return Err(KeyError::Unusable(format!(
                "discovery names the issuer {}",
                discovery.issuer
            )));
        }
        Ok(self.discovered.get_or_init(|| discovery).clone())
    }

    /// The client requests to the issuer go through (a timeout, no redirects).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, KeyError> {
        let answer = self
            .http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|error| KeyError::Fetch(error.without_url().to_string()))?;
        answer
            .json()
            .await
            .map_err(|error| KeyError::Unusable(error.without_url().to_string()))
    }
}

/// A published key fit to verify access tokens: asymmetric, for signatures, with the one
/// algorithm it is for (named, or the only one its type has).
fn usable(jwk: &Jwk) -> Option<Key> {
    let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
        (AlgorithmParameters::OctetKey(_), _) => return None,
        (_, Some(named)) => from_named(named)?,
        (AlgorithmParameters::OctetKeyPair(_), None) => Algorithm::EdDSA,
        (AlgorithmParameters::RSA(_), None) => Algorithm::RS256,
        (AlgorithmParameters::EllipticCurve(ec), None) => match ec.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return None,
        },
        _ => return None,
    };
    let decoding = DecodingKey::from_jwk(jwk).ok()?;
    Some(Key {
        decoding,
        algorithm,
    })
}

fn from_named(named: KeyAlgorithm) -> Option<Algorithm> {
    let algorithm = Algorithm::try_from(named).ok()?;
    match algorithm {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => None,
        other => Some(other),
    }
}
