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
    /// When the keys were fetched.
    at: Option<Instant>,
    /// When a fetch was last tried, and why it failed if it did: the floor holds for
    /// failures too, so an unreachable issuer is not asked once per request.
    tried: Option<(Instant, Option<String>)>,
}

/// The most a discovery document, key set or introspection answer may weigh.
const MAX_ANSWER: usize = 1 << 20;

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
    /// floor, whether the last try failed or the cache lacks the id). While the issuer
    /// cannot be reached, keys fetched before stay usable for another `max_age`.
    pub(crate) async fn key(&self, kid: &str) -> Result<Key, KeyError> {
        let max_age = self.source.max_age;
        if let Some(key) = self.cached(kid, |at| at.elapsed() < max_age) {
            return Ok(key);
        }
        let _fetching = self.fetching.lock().await;
        // Whoever held the lock may have fetched what we need.
        if let Some(key) = self.cached(kid, |at| at.elapsed() < max_age) {
            return Ok(key);
        }
        let tried = self.fetched.read().expect("key cache lock").tried.clone();
        if let Some((at, failure)) = tried
            && at.elapsed() < self.source.refetch_floor
        {
            return match (self.stale(kid), failure) {
                (Some(key), _) => Ok(key),
                (None, Some(why)) => Err(KeyError::Fetch(why)),
                (None, None) => Err(KeyError::UnknownKey),
            };
        }
        match self.fetch().await {
            Ok(keys) => {
                let mut fetched = self.fetched.write().expect("key cache lock");
                let now = Instant::now();
                *fetched = Fetched {
                    keys,
                    at: Some(now),
                    tried: Some((now, None)),
                };
                fetched.keys.get(kid).cloned().ok_or(KeyError::UnknownKey)
            }
            Err(error) => {
                tracing::warn!(%error, "could not fetch the issuer's keys");
                self.fetched.write().expect("key cache lock").tried =
                    Some((Instant::now(), Some(error.to_string())));
                self.stale(kid).ok_or(error)
            }
        }
    }

    /// A key fetched within two `max_age`s: what stands while the issuer is unreachable.
    fn stale(&self, kid: &str) -> Option<Key> {
        let grace = self.source.max_age.saturating_mul(2);
        self.cached(kid, |at| at.elapsed() < grace)
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
        read_json(answer).await
    }
}

/// An answer's JSON body, refused past [`MAX_ANSWER`] bytes.
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    mut answer: reqwest::Response,
) -> Result<T, KeyError> {
    let too_large = || KeyError::Unusable(format!("an answer over {MAX_ANSWER} bytes"));
    if answer
        .content_length()
        .is_some_and(|length| length > MAX_ANSWER as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = answer
        .chunk()
        .await
        .map_err(|error| KeyError::Fetch(error.without_url().to_string()))?
    {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|error| KeyError::Unusable(error.to_string()))
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
