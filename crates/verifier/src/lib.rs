//! Verify gatehouse access tokens in your own Rust service.
//!
//! A [`Verifier`] is configured with gatehouse's issuer (its `server.public_url`) and your
//! API's audience. It finds gatehouse's signing keys through OpenID Connect discovery,
//! keeps them, and fetches them again when a token names a key it does not know (key
//! rotation), at most once per [`VerifierBuilder::refetch_floor`]. Each token's signature,
//! algorithm (the key's own, never the token's choice), `typ` (`at+jwt`), issuer, audience,
//! expiry and `nbf` are checked.
//!
//! gatehouse must sign with an asymmetric algorithm (`jwt.algorithm = "EdDSA"` or `"RS256"`)
//! for its keys to be published; a verifier never accepts a symmetric key from a key set.
//!
//! A handler states the scopes it needs in its signature, with [`Authenticated<S>`] and a
//! scope type made by [`scope!`]:
//!
//! ```
//! gatehouse_verifier::scope!(
//!     /// Reading orders.
//!     pub OrdersRead = "orders:read"
//! );
//!
//! # #[cfg(feature = "actix-web")]
//! async fn list_orders(
//!     caller: gatehouse_verifier::Authenticated<OrdersRead>,
//! ) -> String {
//!     format!("orders of {}", caller.claims.sub)
//! }
//! ```
//!
//! With the `actix-web` feature, `Authenticated<S>` is an extractor (put the `Verifier` in
//! `App::app_data`, plain or in `web::Data`); with `axum`, it is one too (make the
//! `Verifier` reachable from your state with `FromRef`). A refused request gets the
//! RFC 6750 answer: 401 with `WWW-Authenticate: Bearer realm="…"` (plus
//! `error="invalid_token"` when a token was sent), or 403 with
//! `error="insufficient_scope"` and the scope it lacked.

mod introspection;
mod keys;

#[cfg(feature = "actix-web")]
mod actix;
#[cfg(feature = "axum")]
mod axum_extractor;

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Validation, decode, decode_header};
use serde::{Deserialize, Deserializer};

pub use introspection::Introspection;
pub use keys::KeyError;

/// Checks gatehouse access tokens for one API. Cheap to clone: clones share their keys.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    /// The `iss` access tokens carry.
    token_issuer: String,
    audience: String,
    realm: String,
    leeway: u64,
    keys: keys::KeyCache,
    introspector: Option<introspection::Introspector>,
    /// Tokens whose signature and claims passed, by their SHA-256: a client presents one
    /// token on each of its requests, and checking the same bytes again tells nothing new
    /// (only their times, checked on every use).
    verified: std::sync::Mutex<std::collections::HashMap<[u8; 32], Arc<Claims>>>,
}

/// Verified tokens kept at most; past it, the expired ones are dropped (and all, if none
/// had expired).
const VERIFIED_KEPT: usize = 10_000;

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// Settings of a [`Verifier`]; [`Verifier::builder`] starts one.
pub struct VerifierBuilder {
    issuer: String,
    token_issuer: Option<String>,
    audience: String,
    realm: Option<String>,
    leeway: Duration,
    refetch_floor: Duration,
    max_age: Duration,
    timeout: Duration,
    jwks_uri: Option<String>,
    introspection: Option<Introspection>,
}

impl VerifierBuilder {
    /// The `iss` of access tokens, when it is not the issuer's URL. Tokens for registered
    /// APIs carry the issuer's URL and need none of this; tokens for gatehouse's own API
    /// carry its `jwt.issuer` setting (`gatehouse` unless set).
    pub fn token_issuer(mut self, iss: impl Into<String>) -> Self {
        self.token_issuer = Some(iss.into());
        self
    }

    /// Also asks gatehouse whether each token is still live (RFC 7662 introspection, as a
    /// client an admin registered as a resource server), so that a revoked session's
    /// tokens are refused within `cache_for` rather than at their expiry. One request to
    /// gatehouse per token per `cache_for`.
    pub fn introspection(mut self, introspection: Introspection) -> Self {
        self.introspection = Some(introspection);
        self
    }

    /// The realm named in `WWW-Authenticate` challenges; the audience by default.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Clock skew allowed on `exp` and `nbf` (default 30 seconds).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The shortest time between two fetches of the keys for an unknown `kid` (default
    /// 30 seconds): a flood of tokens naming made-up keys costs gatehouse one request per
    /// floor, not one per token.
    pub fn refetch_floor(mut self, floor: Duration) -> Self {
        self.refetch_floor = floor;
        self
    }

    /// How long fetched keys are kept before they are fetched again (default 1 hour).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The timeout of each request to gatehouse (default 5 seconds).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The key set's URL, to skip discovery (by default it is read from
    /// `<issuer>/.well-known/openid-configuration`).
    pub fn jwks_uri(mut self, uri: impl Into<String>) -> Self {
        self.jwks_uri = Some(uri.into());
        self
    }

    /// The verifier. Nothing is fetched until the first token arrives.
    pub fn build(self) -> Result<Verifier, KeyError> {
        let issuer = self.issuer.trim_end_matches('/').to_owned();
        let keys = keys::KeyCache::new(keys::KeySource {
            issuer: issuer.clone(),
            jwks_uri: self.jwks_uri,
            refetch_floor: self.refetch_floor,
            max_age: self.max_age,
            timeout: self.timeout,
        })?;
        Ok(Verifier {
            inner: Arc::new(Inner {
                realm: quoted(&self.realm.unwrap_or_else(|| self.audience.clone())),
                token_issuer: self.token_issuer.unwrap_or(issuer),
                audience: self.audience,
                leeway: self.leeway.as_secs(),
                keys,
                introspector: self.introspection.map(introspection::Introspector::new),
                verified: std::sync::Mutex::default(),
            }),
        })
    }
}

impl Verifier {
    /// A verifier of tokens issued by `issuer` (gatehouse's `server.public_url`, where
    /// discovery is read) for `audience` (your API's identifier; gatehouse's own API is
    /// `gatehouse`). Tokens' `iss` must be `issuer` too, unless
    /// [`VerifierBuilder::token_issuer`] names another.
    pub fn builder(issuer: impl Into<String>, audience: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder {
            issuer: issuer.into(),
            token_issuer: None,
            audience: audience.into(),
            realm: None,
            leeway: Duration::from_secs(30),
            refetch_floor: Duration::from_secs(30),
            max_age: Duration::from_secs(3600),
            timeout: Duration::from_secs(5),
            jwks_uri: None,
            introspection: None,
        }
    }

    /// The realm of this verifier's challenges.
    pub fn realm(&self) -> &str {
        &self.inner.realm
    }

    /// Verifies `token`: its claims, or why it is refused.
    pub async fn verify(&self, token: &str) -> Result<Arc<Claims>, Refusal> {
        use sha2::Digest as _;
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let known = self.verified().get(&digest).cloned();
        let claims = match known {
            Some(claims) => {
                if claims.exp.saturating_add(self.inner.leeway as i64) <= unix_now() {
                    self.verified().remove(&digest);
                    return Err(Refusal::invalid("expired"));
                }
                claims
            }
            None => {
                let claims = Arc::new(self.verify_signed(token).await?);
                let mut verified = self.verified();
                if verified.len() >= VERIFIED_KEPT {
                    let now = unix_now();
                    verified.retain(|_, kept| kept.exp > now);
                    if verified.len() >= VERIFIED_KEPT {
                        verified.clear();
                    }
                }
                verified.insert(digest, Arc::clone(&claims));
                claims
            }
        };
        if let Some(introspector) = &self.inner.introspector {
            let active = introspector
                .active(&self.inner.keys, token, claims.jti.as_deref())
                .await
                .map_err(Refusal::Unavailable)?;
            if !active {
                return Err(Refusal::invalid("revoked"));
            }
        }
        Ok(claims)
    }

    fn verified(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<[u8; 32], Arc<Claims>>> {
        self.inner
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks the signature and every claim of a token not seen before.
    async fn verify_signed(&self, token: &str) -> Result<Claims, Refusal> {
        let header = decode_header(token).map_err(|_| Refusal::invalid("malformed token"))?;
        let typ = header.typ.as_deref().unwrap_or_default();
        if !typ.eq_ignore_ascii_case("at+jwt") && !typ.eq_ignore_ascii_case("application/at+jwt") {
            return Err(Refusal::invalid("not an access token"));
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| Refusal::invalid("the token names no key"))?;
        let key = self
            .inner
            .keys
            .key(kid)
            .await
            .map_err(|error| match error {
                KeyError::UnknownKey => Refusal::invalid("signed by an unknown key"),
                other => Refusal::Unavailable(other),
            })?;
        if header.alg != key.algorithm {
            return Err(Refusal::invalid(
                "signed with another algorithm than its key's",
            ));
        }
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&self.inner.token_issuer]);
        validation.set_audience(&[&self.inner.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = self.inner.leeway;
        let data = decode::<Claims>(token, &key.decoding, &validation).map_err(|error| {
            use jsonwebtoken::errors::ErrorKind;
            Refusal::invalid(match error.kind() {
                ErrorKind::ExpiredSignature => "expired",
                ErrorKind::ImmatureSignature => "not valid yet",
                ErrorKind::InvalidIssuer => "issued by someone else",
                ErrorKind::InvalidAudience => "meant for another API",
                ErrorKind::InvalidSignature => "bad signature",
                _ => "invalid token",
            })
        })?;
        Ok(data.claims)
    }

    /// Verifies the request's `Authorization` header (`Bearer <token>`) and that the token
    /// holds the scopes of `S`.
    pub async fn authorize<S: Scopes>(
        &self,
        authorization: Option<&str>,
    ) -> Result<Authenticated<S>, Refusal> {
        let token = bearer(authorization).ok_or(Refusal::Missing)?;
        let claims = self.verify(token).await?;
        if let Some(missing) = S::missing(&claims.scope) {
            return Err(Refusal::InsufficientScope(missing));
        }
        Ok(Authenticated {
            claims,
            scopes: PhantomData,
        })
    }
}

/// The token of an `Authorization: Bearer …` header (the scheme in any case).
fn bearer(header: Option<&str>) -> Option<&str> {
    let (scheme, token) = header?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// What a verified access token says.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct Claims {
    /// Who the token is for: a user's id, or a client's for a client's own token.
    pub sub: String,
    pub iss: String,
    /// The APIs the token is meant for.
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    pub exp: i64,
    #[serde(default)]
    pub iat: Option<i64>,
    #[serde(default)]
    pub nbf: Option<i64>,
    #[serde(default)]
    pub jti: Option<String>,
    /// The client the token was issued to (RFC 9068 §2.2); for a client's own token (the
    /// client credentials grant), the same as `sub`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The gatehouse session the token belongs to; none in a client's own token.
    #[serde(default)]
    pub sid: Option<String>,
    /// The scopes granted.
    #[serde(default, deserialize_with = "space_separated")]
    pub scope: Vec<String>,
    /// The person's role (`user` or `admin`).
    #[serde(default)]
    pub role: Option<String>,
    /// How the person signed in (RFC 8176 names).
    #[serde(default)]
    pub amr: Vec<String>,
    /// The upstream provider that signed the person in, when one did.
    #[serde(default)]
    pub idp: Option<String>,
}

impl Claims {
    /// Whether the token holds `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.iter().any(|held| held == scope)
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

fn space_separated<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let scope = String::deserialize(deserializer)?;
    Ok(scope.split_whitespace().map(str::to_owned).collect())
}

/// The scopes a handler needs. Made by [`scope!`]; `()` needs none; a tuple needs all of
/// its members'.
pub trait Scopes {
    /// The first needed scope that `granted` lacks.
    fn missing(granted: &[String]) -> Option<&'static str>;
}

impl Scopes for () {
    fn missing(_: &[String]) -> Option<&'static str> {
        None
    }
}

macro_rules! tuple_scopes {
    ($($name:ident),+) => {
        impl<$($name: Scopes),+> Scopes for ($($name,)+) {
            fn missing(granted: &[String]) -> Option<&'static str> {
                None$(.or_else(|| $name::missing(granted)))+
            }
        }
    };
}
tuple_scopes!(A);
tuple_scopes!(A, B);
tuple_scopes!(A, B, C);
tuple_scopes!(A, B, C, D);

/// Declares a scope type: `scope!(pub OrdersRead = "orders:read");`.
#[macro_export]
macro_rules! scope {
    ($(#[$meta:meta])* $vis:vis $name:ident = $scope:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;
        impl $crate::Scopes for $name {
            fn missing(granted: &[::std::string::String]) -> ::std::option::Option<&'static str> {
                (!granted.iter().any(|held| held == $scope)).then_some($scope)
            }
        }
    };
}

/// A request whose bearer token was verified and holds the scopes of `S`.
#[derive(Debug, Clone)]
pub struct Authenticated<S = ()> {
    /// Shared with the verifier's cache of checked tokens.
    pub claims: Arc<Claims>,
    scopes: PhantomData<fn() -> S>,
}

impl<S> Deref for Authenticated<S> {
    type Target = Claims;

    fn deref(&self) -> &Claims {
        &self.claims
    }
}

/// Why a request was refused; each says its status and RFC 6750 challenge.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// No bearer token was sent.
    #[error("a bearer token is required")]
    Missing,
    /// The token is malformed, forged, expired, for another API or from another issuer.
    #[error("the access token is invalid: {0}")]
    Invalid(&'static str),
    /// The token is good but lacks this scope.
    #[error("the access token lacks the scope `{0}`")]
    InsufficientScope(&'static str),
    /// gatehouse's keys could not be fetched.
    #[error("the token cannot be checked now: {0}")]
    Unavailable(KeyError),
}

impl Refusal {
    fn invalid(why: &'static str) -> Self {
        Refusal::Invalid(why)
    }

    /// 401, 403, or 503 when the keys could not be fetched.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Missing | Refusal::Invalid(_) => 401,
            Refusal::InsufficientScope(_) => 403,
            Refusal::Unavailable(_) => 503,
        }
    }

    /// The `WWW-Authenticate` value (RFC 6750 §3) in `realm`; none for 503.
    pub fn challenge(&self, realm: &str) -> Option<String> {
        let realm = quoted(realm);
        match self {
            Refusal::Missing => Some(format!("Bearer realm=\"{realm}\"")),
            Refusal::Invalid(why) => Some(format!(
                "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"{why}\""
            )),
            Refusal::InsufficientScope(scope) => Some(format!(
                "Bearer realm=\"{realm}\", error=\"insufficient_scope\", scope=\"{}\"",
                quoted(scope)
            )),
            Refusal::Unavailable(_) => None,
        }
    }

    /// The RFC 6750 error code (`invalid_token`, `insufficient_scope`), if any.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Refusal::Missing | Refusal::Unavailable(_) => None,
            Refusal::Invalid(_) => Some("invalid_token"),
            Refusal::InsufficientScope(_) => Some("insufficient_scope"),
        }
    }

    /// A JSON body for the answer: `{error, error_description}`. Why the keys could not
    /// be had is logged, never told to the caller.
    pub fn body(&self) -> String {
        let description = match self {
            Refusal::Unavailable(error) => {
                tracing::warn!(%error, "gatehouse's keys or introspection could not be had");
                "The token cannot be checked right now; try again shortly.".to_owned()
            }
            other => other.to_string(),
        };
        serde_json::json!({
            "error": self.error_code().unwrap_or(if self.status() == 503 {
                "temporarily_unavailable"
            } else {
                "unauthorized"
            }),
            "error_description": description,
        })
        .to_string()
    }
}

/// A refusal with the realm of the verifier that made it: what the extractors answer.
#[derive(Debug, thiserror::Error)]
#[error("{refusal}")]
pub struct Rejection {
    pub refusal: Refusal,
    pub realm: String,
}

impl Rejection {
    /// The `WWW-Authenticate` value of the answer, if it has one.
    pub fn challenge(&self) -> Option<String> {
        self.refusal.challenge(&self.realm)
    }
}

impl Verifier {
    /// As [`Verifier::authorize`], with a refusal ready to be answered.
    pub async fn judge<S: Scopes>(
        &self,
        authorization: Option<&str>,
    ) -> Result<Authenticated<S>, Rejection> {
        self.authorize(authorization)
            .await
            .map_err(|refusal| Rejection {
                refusal,
                realm: self.realm().to_owned(),
            })
    }
}

/// A value fit for a quoted-string in a header: printable ASCII, no quote or backslash.
fn quoted(value: &str) -> String {
    value
        .chars()
        .filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_takes_the_token_of_the_bearer_scheme_only() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(None), None);
    }

    scope!(Read = "orders:read");
    scope!(Write = "orders:write");

    #[test]
    fn scopes_name_the_first_one_missing() {
        let granted = vec!["orders:read".to_owned()];
        assert_eq!(Read::missing(&granted), None);
        assert_eq!(Write::missing(&granted), Some("orders:write"));
        assert_eq!(<(Read, Write)>::missing(&granted), Some("orders:write"));
        assert_eq!(<()>::missing(&[]), None);
    }

    #[test]
    fn challenges_follow_rfc_6750() {
        assert_eq!(
            Refusal::Missing.challenge("orders").as_deref(),
            Some("Bearer realm=\"orders\"")
        );
        assert_eq!(
            Refusal::InsufficientScope("orders:write")
                .challenge("orders")
                .as_deref(),
            Some("Bearer realm=\"orders\", error=\"insufficient_scope\", scope=\"orders:write\"")
        );
        assert_eq!(Refusal::Invalid("expired").status(), 401);
    }
}
