//! JWT access tokens (RFC 9068 profile): the domain's `AccessTokenService`.
//!
//! Signed with the key ring's active key (HS256 by default, EdDSA, RS256 or PS256), each token
//! naming its key with `kid`. An HS256 key is the UTF-8 bytes of the configured secret, so
//! any JWT library given the same string verifies our tokens. Verification looks the key up
//! by `kid`, pins the algorithm to that key's, requires the `at+jwt` type and every claim,
//! and checks times against the injected clock's `now`.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use gatehouse_domain::apis::ScopeName;
use gatehouse_domain::mfa::Amr;
use gatehouse_domain::oauth::{ClientId, IdClaims, IdTokenSigner};
use gatehouse_domain::ports::{
    AccessClaims, AccessToken, AccessTokenService, ApiAccessToken, ApiTokenClaims, TokenError,
    TokenSubject,
};
use gatehouse_domain::{Role, ScopeSet, Session, SessionId, User, UserId};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::keys::{ActiveKey, KeyError, LoadedKey, PublicJwk, RetiredKey, TokenSigner};

pub use crate::keys::MIN_SECRET_BYTES;

/// The `typ` header of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("two configured keys have the same id {0}")]
    DuplicateKey(String),
    #[error("the access-token lifetime must be positive")]
    NonPositiveLifetime,
}

/// The keys tokens are signed and verified with: `active` signs, `retired` keys still
/// verify tokens signed before a rotation (even of another algorithm).
pub struct SigningKeys {
    pub active: ActiveKey,
    pub retired: Vec<RetiredKey>,
}

impl SigningKeys {
    /// A single HS256 secret.
    pub fn hs256(secret: SecretString) -> Self {
        Self {
            active: ActiveKey::Hs256(secret),
            retired: Vec::new(),
        }
    }
}

pub struct JwtConfig {
    pub keys: SigningKeys,
    pub issuer: String,
    /// The OpenID Connect issuer (`server.public_url`): the `iss` of ID tokens.
    pub id_token_issuer: String,
    pub audience: String,
    pub access_token_ttl: Duration,
    /// Tolerated clock difference between instances for `nbf` and `iat`.
    pub leeway: Duration,
}

/// The claims of a token for a registered API (RFC 9068 §2.2): its `iss` is the OpenID
/// Connect issuer, so that any RFC 9068 verifier given the discovery document accepts it.
#[derive(Debug, Serialize, Deserialize)]
struct ApiClaims {
    iss: String,
    aud: String,
    sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    amr: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    sid: String,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    scope: String,
    role: String,
    /// How the person signed in (RFC 8176 names); absent in tokens of older releases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    amr: Vec<String>,
    /// The upstream provider that signed the person in, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idp: Option<String>,
}

/// Tokens whose signature this process has verified, at most: a token is presented on
/// every request of its client, and re-verifying the identical bytes (decoding, parsing and
/// the signature, a fifth of a request's time on `/users/me`) tells nothing new.
pub const VERIFIED_CAPACITY: usize = 10_000;

/// An empty cache of verified tokens, holding at most [`VERIFIED_CAPACITY`]; its table grows
/// with use instead of being reserved whole up front.
fn verified_cache() -> lru::LruCache<[u8; 32], Verified> {
    let mut cache = lru::LruCache::unbounded();
    cache.resize(NonZeroUsize::new(VERIFIED_CAPACITY).unwrap_or(NonZeroUsize::MIN));
    cache
}

/// What a verified token says: its times, checked again on every presentation, and its
/// claims. Kept under the SHA-256 of the token, never the token itself.
#[derive(Clone)]
struct Verified {
    exp: i64,
    nbf: i64,
    iat: i64,
    claims: AccessClaims,
}

/// A verifying key with the validation rules pinned to its algorithm: `validation` for
/// gatehouse's own tokens, `api_validation` for tokens of registered APIs (issued as the
/// OpenID Connect issuer, any audience).
struct Verifier {
    key: LoadedKey,
    validation: Validation,
    api_validation: Validation,
}

pub struct JwtService {
    signer: TokenSigner,
    active_algorithm: Algorithm,
    active_kid: String,
    /// Verification keys by `kid`.
    verifiers: HashMap<String, Verifier>,
    /// The key for tokens without a `kid` (HS256 tokens of other services and of releases
    /// before key ids): the active key when it is an HS256 secret, else none.
    default_kid: Option<String>,
    jwks: Vec<PublicJwk>,
    issuer: String,
    id_token_issuer: String,
    audience: String,
    ttl: Duration,
    leeway: Duration,
    verified: Mutex<lru::LruCache<[u8; 32], Verified>>,
}

impl JwtService {
    pub fn new(config: JwtConfig) -> Result<Self, JwtConfigError> {
        if config.access_token_ttl <= Duration::zero() {
            return Err(JwtConfigError::NonPositiveLifetime);
        }
        let active = config.keys.active.load()?;
        let (signer, active_algorithm, active_kid) =
            (active.signer, active.key.algorithm, active.key.kid.clone());
        let default_kid = (active_algorithm == Algorithm::HS256).then(|| active_kid.clone());
        let mut verifiers = HashMap::new();
        let mut jwks = Vec::new();
        let retired = config
            .keys
            .retired
            .iter()
            .map(RetiredKey::load)
            .collect::<Result<Vec<_>, _>>()?;
        for key in std::iter::once(active.key).chain(retired) {
            let mut validation = Validation::new(key.algorithm);
            validation.set_issuer(&[&config.issuer]);
            validation.set_audience(&[&config.audience]);
            validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
            // Times are checked below against the injected clock, not the system clock.
            validation.validate_exp = false;
            validation.validate_nbf = false;
            let mut api_validation = validation.clone();
            api_validation.set_issuer(&[&config.id_token_issuer]);
            // Which registered API a token is for is the domain's to judge.
            api_validation.validate_aud = false;
            jwks.extend(key.public.clone());
            let kid = key.kid.clone();
            let verifier = Verifier {
                key,
                validation,
                api_validation,
            };
            if verifiers.insert(kid.clone(), verifier).is_some() {
                return Err(JwtConfigError::DuplicateKey(kid));
            }
        }
        Ok(Self {
            signer,
            active_algorithm,
            active_kid,
            verifiers,
            default_kid,
            jwks,
            issuer: config.issuer,
            id_token_issuer: config.id_token_issuer,
            audience: config.audience,
            ttl: config.access_token_ttl,
            leeway: config.leeway,
            verified: Mutex::new(verified_cache()),
        })
    }

    /// The public keys other services verify our tokens with (none for HS256 secrets).
    pub fn public_keys(&self) -> &[PublicJwk] {
        &self.jwks
    }

    /// The `kid` of the key that signs new tokens.
    pub fn active_key_id(&self) -> &str {
        &self.active_kid
    }

    fn check_times(
        &self,
        exp: i64,
        nbf: i64,
        iat: i64,
        now: DateTime<Utc>,
    ) -> Result<(), TokenError> {
        let now = now.timestamp();
        let leeway = self.leeway.num_seconds();
        if exp <= now {
            return Err(TokenError::Expired);
        }
        if nbf > now + leeway {
            return Err(TokenError::Invalid("not yet valid"));
        }
        if iat > now + leeway {
            return Err(TokenError::Invalid("issued in the future"));
        }
        Ok(())
    }

    /// A new token's id, issue and expiry times at `now`. `iat` has whole seconds; the
    /// jti, a UUIDv7 stamped with `now`, carries the milliseconds (`clock::token_time`).
    fn stamp(&self, now: DateTime<Utc>) -> (Uuid, DateTime<Utc>, DateTime<Utc>) {
        let issued_at = gatehouse_domain::clock::token_time(now);
        let token_id = Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            issued_at.timestamp() as u64,
            issued_at.timestamp_subsec_nanos(),
        ));
        let expires_at =
            DateTime::from_timestamp(issued_at.timestamp(), 0).unwrap_or(issued_at) + self.ttl;
        (token_id, issued_at, expires_at)
    }

    /// Signs `claims` as an access token (`typ: at+jwt`) with the active key.
    fn sign(&self, claims: &impl Serialize) -> Result<SecretString, TokenError> {
        let mut header = Header::new(self.active_algorithm);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.kid = Some(self.active_kid.clone());
        self.signer
            .encode(&header, claims)
            .map(SecretString::from)
            .map_err(TokenError::Signing)
    }

    fn verified(&self) -> std::sync::MutexGuard<'_, lru::LruCache<[u8; 32], Verified>> {
        self.verified.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl AccessTokenService for JwtService {
    fn issue(
        &self,
        user: &User,
        session: &Session,
        scopes: ScopeSet,
        now: DateTime<Utc>,
    ) -> Result<AccessToken, TokenError> {
        let (token_id, issued_at, expires_at) = self.stamp(now);
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.id.to_string(),
            sid: session.id.to_string(),
            exp: expires_at.timestamp(),
            iat: issued_at.timestamp(),
            nbf: issued_at.timestamp(),
            jti: token_id.to_string(),
            scope: scopes.to_string(),
            role: user.role.as_str().to_owned(),
            amr: session
                .amr
                .methods()
                .iter()
                .map(|m| (*m).to_owned())
                .collect(),
            idp: session.idp.as_ref().map(ToString::to_string),
        };
        let token = self.sign(&claims)?;
        Ok(AccessToken {
            token,
            claims: AccessClaims {
                user_id: user.id,
                session_id: session.id,
                token_id,
                issued_at,
                expires_at,
                scopes,
                role: user.role,
                amr: session.amr,
            },
        })
    }

    fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, TokenError> {
        // Only tokens that passed every check are remembered, so nothing an attacker sends
        // can be answered from here unless it is, byte for byte, a token we verified.
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let known = self.verified().get(&digest).cloned();
        let verified = match known {
            Some(verified) => verified,
            None => {
                let verified = self.verify_signed(token)?;
                self.verified().put(digest, verified.clone());
                verified
            }
        };
        self.check_times(verified.exp, verified.nbf, verified.iat, now)?;
        Ok(verified.claims)
    }

    fn signs_for_apis(&self) -> bool {
        self.active_algorithm != Algorithm::HS256
    }

    fn issue_for_api(
        &self,
        claims: ApiTokenClaims,
        now: DateTime<Utc>,
    ) -> Result<ApiAccessToken, TokenError> {
        if !self.signs_for_apis() {
            return Err(TokenError::Signing(
                "tokens for registered APIs need an asymmetric signing key (jwt.keys), not a shared secret".into(),
            ));
        }
        let (token_id, issued_at, expires_at) = self.stamp(now);
        let claims = ApiTokenClaims {
            token_id,
            issued_at,
            expires_at,
            ..claims
        };
        let (sub, sid, role, amr) = match &claims.subject {
            TokenSubject::User {
                user_id,
                session_id,
                role,
                amr,
            } => (
                user_id.to_string(),
                Some(session_id.to_string()),
                Some(role.as_str().to_owned()),
                amr.methods().iter().map(|m| (*m).to_owned()).collect(),
            ),
            TokenSubject::Client => (
                claims
                    .client_id
                    .as_ref()
                    .map(ToString::to_string)
                    .ok_or_else(|| {
                        TokenError::Signing("a client's token names no client".into())
                    })?,
                None,
                None,
                Vec::new(),
            ),
        };
        let token = self.sign(&ApiClaims {
            iss: self.id_token_issuer.clone(),
            aud: claims.audience.clone(),
            sub,
            client_id: claims.client_id.as_ref().map(ToString::to_string),
            sid,
            exp: expires_at.timestamp(),
            iat: issued_at.timestamp(),
            nbf: issued_at.timestamp(),
            jti: token_id.to_string(),
            scope: claims.scope(),
            role,
            amr,
        })?;
        Ok(ApiAccessToken { token, claims })
    }

    fn verify_for_api(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<ApiTokenClaims, TokenError> {
        let verifier = self.verifier_for(token)?;
        if verifier.key.algorithm == Algorithm::HS256 {
            return Err(TokenError::Invalid(
                "a shared secret signs no token for an API",
            ));
        }
        let claims = jsonwebtoken::decode::<ApiClaims>(
            token,
            &verifier.key.decoding,
            &verifier.api_validation,
        )
        .map_err(decode_error)?
        .claims;
        if claims.aud == self.audience {
            return Err(TokenError::Invalid("a token for gatehouse's own API"));
        }
        self.check_times(claims.exp, claims.nbf, claims.iat, now)?;
        let token_id = Uuid::parse_str(&claims.jti).map_err(|_| TokenError::Invalid("bad jti"))?;
        let client_id = claims
            .client_id
            .as_deref()
            .map(ClientId::parse)
            .transpose()
            .map_err(|_| TokenError::Invalid("bad client_id"))?;
        let subject = match (&claims.sid, &claims.role) {
            (Some(sid), Some(role)) => TokenSubject::User {
                user_id: Uuid::parse_str(&claims.sub)
                    .map(UserId::from_uuid)
                    .map_err(|_| TokenError::Invalid("bad subject"))?,
                session_id: Uuid::parse_str(sid)
                    .map(SessionId::from_uuid)
                    .map_err(|_| TokenError::Invalid("bad sid"))?,
                role: Role::parse(role).map_err(|_| TokenError::Invalid("bad role"))?,
                amr: Amr::parse(&claims.amr.join(" ")),
            },
            (None, None)
                if client_id
                    .as_ref()
                    .is_some_and(|id| id.as_str() == claims.sub) =>
            {
                TokenSubject::Client
            }
            _ => return Err(TokenError::Invalid("bad subject")),
        };
        let scopes = claims
            .scope
            .split_ascii_whitespace()
            .map(ScopeName::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| TokenError::Invalid("bad scope"))?;
        let to_time =
            |secs| DateTime::from_timestamp(secs, 0).ok_or(TokenError::Invalid("bad time"));
        Ok(ApiTokenClaims {
            audience: claims.aud,
            subject,
            client_id,
            scopes,
            token_id,
            issued_at: precise_issue_time(claims.iat, token_id)?,
            expires_at: to_time(claims.exp)?,
        })
    }
}

/// The claims of an ID token (OpenID Connect Core §2, §5.1).
#[derive(Debug, Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: String,
    aud: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    at_hash: String,
    /// Absent when gatehouse checked no method itself (an upstream's sign-in alone).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    amr: &'a [&'static str],
    #[serde(skip_serializing_if = "Option::is_none")]
    idp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

impl IdTokenSigner for JwtService {
    fn signs_id_tokens(&self) -> bool {
        self.active_algorithm != Algorithm::HS256
    }

    fn id_token_subject(&self, id_token: &str) -> Option<(UserId, ClientId)> {
        #[derive(Deserialize)]
        struct Hint {
            sub: String,
            aud: String,
        }
        let header = jsonwebtoken::decode_header(id_token).ok()?;
        if header.typ.as_deref() == Some(ACCESS_TOKEN_TYPE) {
            return None;
        }
        let verifier = self.verifiers.get(header.kid.as_deref()?)?;
        if header.alg != verifier.key.algorithm || header.alg == Algorithm::HS256 {
            return None;
        }
        let mut validation = Validation::new(verifier.key.algorithm);
        validation.set_issuer(&[&self.id_token_issuer]);
        validation.validate_aud = false;
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["iss", "sub", "aud"]);
        let hint = jsonwebtoken::decode::<Hint>(id_token, &verifier.key.decoding, &validation)
            .ok()?
            .claims;
        Some((
            UserId::from_uuid(Uuid::parse_str(&hint.sub).ok()?),
            ClientId::parse(&hint.aud).ok()?,
        ))
    }

    fn sign_id_token(
        &self,
        claims: &IdClaims,
        access_token: &SecretString,
    ) -> Result<SecretString, TokenError> {
        if !self.signs_id_tokens() {
            return Err(TokenError::Signing(
                "ID tokens need an asymmetric key (EdDSA, RS256 or PS256)".into(),
            ));
        }
        let body = IdTokenClaims {
            iss: &self.id_token_issuer,
            sub: claims.subject.to_string(),
            aud: claims.audience.as_str(),
            exp: claims.expires_at.timestamp(),
            iat: claims.issued_at.timestamp(),
            auth_time: claims.auth_time.timestamp(),
            nonce: claims.nonce.as_deref(),
            at_hash: half_hash(self.active_algorithm, access_token.expose_secret()),
            amr: &claims.amr,
            idp: claims.idp.as_deref(),
            email: claims.email.as_ref().map(|(email, _)| email.as_str()),
            email_verified: claims.email.as_ref().map(|(_, verified)| *verified),
            name: claims.name.as_ref().and_then(|name| name.as_deref()),
        };
        let mut header = Header::new(self.active_algorithm);
        header.typ = Some("JWT".to_owned());
        header.kid = Some(self.active_kid.clone());
        self.signer
            .encode(&header, &body)
            .map(SecretString::from)
            .map_err(TokenError::Signing)
    }
}

/// `at_hash` (OpenID Connect Core §3.1.3.6): the left half of the access token's hash by the
/// signing algorithm's hash function (SHA-512 for Ed25519, as OpenID's libraries use),
/// URL-safe base64 without padding.
fn half_hash(algorithm: Algorithm, token: &str) -> String {
    use base64::Engine as _;
    let digest: Vec<u8> = match algorithm {
        Algorithm::EdDSA => sha2::Sha512::digest(token.as_bytes()).to_vec(),
        _ => Sha256::digest(token.as_bytes()).to_vec(),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

impl JwtService {
    /// The key `token`'s header names, provided the header is an access token's and names
    /// that key's algorithm.
    fn verifier_for(&self, token: &str) -> Result<&Verifier, TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid("malformed"))?;
        if !header
            .typ
            .as_deref()
            .is_some_and(|typ| typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE))
        {
            return Err(TokenError::Invalid("not an access token"));
        }
        let kid = match header.kid.as_deref() {
            Some(kid) => kid,
            None => self
                .default_kid
                .as_deref()
                .ok_or(TokenError::Invalid("no key id"))?,
        };
        let verifier = self
            .verifiers
            .get(kid)
            .ok_or(TokenError::Invalid("unknown key id"))?;
        // The algorithm is pinned to the key's: a token naming another one (HS256 signed
        // with our public key, say) is refused before any signature is computed.
        if header.alg != verifier.key.algorithm {
            return Err(TokenError::Invalid("unexpected algorithm"));
        }
        Ok(verifier)
    }

    /// Decodes `token` and checks its signature and claims, all but its times: the work
    /// `verify` does once per token.
    fn verify_signed(&self, token: &str) -> Result<Verified, TokenError> {
        let verifier = self.verifier_for(token)?;
        let data =
            jsonwebtoken::decode::<Claims>(token, &verifier.key.decoding, &verifier.validation)
                .map_err(decode_error)?;
        let claims = data.claims;
        let user_id = Uuid::parse_str(&claims.sub)
            .map(UserId::from_uuid)
            .map_err(|_| TokenError::Invalid("bad subject"))?;
        let token_id = Uuid::parse_str(&claims.jti).map_err(|_| TokenError::Invalid("bad jti"))?;
        let session_id = Uuid::parse_str(&claims.sid)
            .map(SessionId::from_uuid)
            .map_err(|_| TokenError::Invalid("bad sid"))?;
        let scopes =
            ScopeSet::parse(&claims.scope).map_err(|_| TokenError::Invalid("bad scope"))?;
        let role = Role::parse(&claims.role).map_err(|_| TokenError::Invalid("bad role"))?;
        let to_time =
            |secs| DateTime::from_timestamp(secs, 0).ok_or(TokenError::Invalid("bad time"));
        Ok(Verified {
            exp: claims.exp,
            nbf: claims.nbf,
            iat: claims.iat,
            claims: AccessClaims {
                user_id,
                session_id,
                token_id,
                issued_at: precise_issue_time(claims.iat, token_id)?,
                expires_at: to_time(claims.exp)?,
                scopes,
                role,
                amr: Amr::parse(&claims.amr.join(" ")),
            },
        })
    }
}

fn decode_error(error: jsonwebtoken::errors::Error) -> TokenError {
    TokenError::Invalid(match error.kind() {
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidAlgorithm => "unexpected algorithm",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::MissingRequiredClaim(_) => "missing claim",
        _ => "malformed",
    })
}

/// `iat` refined by the millisecond timestamp of a UUIDv7 `jti` from the same second;
/// plain `iat` for any other `jti`.
fn precise_issue_time(iat: i64, token_id: Uuid) -> Result<DateTime<Utc>, TokenError> {
    let millis = token_id
        .get_timestamp()
        .filter(|_| token_id.get_version_num() == 7)
        .map(|timestamp| {
            let (secs, nanos) = timestamp.to_unix();
            secs as i64 * 1000 + i64::from(nanos / 1_000_000)
        })
        .filter(|millis| millis.div_euclid(1000) == iat);
    match millis {
        Some(millis) => DateTime::from_timestamp_millis(millis),
        None => DateTime::from_timestamp(iat, 0),
    }
    .ok_or(TokenError::Invalid("bad time"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::EncodingKey;

    /// A session to issue tokens in (its user is not the token's subject here).
    fn session() -> Session {
        Session::start(
            &user(),
            ScopeSet::default(),
            gatehouse_domain::Caller::default(),
            gatehouse_domain::SessionLifetimes::default(),
            Utc::now(),
        )
    }
    use crate::keys::{self, RsaScheme};
    use gatehouse_domain::{Email, PasswordHash, Scope};
    use secrecy::ExposeSecret;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn service() -> JwtService {
        JwtService::new(JwtConfig {
            keys: SigningKeys::hs256(SecretString::from(SECRET)),
            issuer: "gatehouse".into(),
            id_token_issuer: "https://id.example.com".into(),
            audience: "gatehouse-api".into(),
            access_token_ttl: Duration::minutes(15),
            leeway: Duration::seconds(30),
        })
        .unwrap()
    }

    fn user() -> User {
        User::new(
            Email::parse("ada@example.com").unwrap(),
            None,
            Role::User,
            PasswordHash::new("x"),
            Utc::now(),
        )
    }

    fn sign(header: &Header, claims: &serde_json::Value, secret: &str) -> String {
        jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
    }

    fn at_header() -> Header {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        header
    }

    fn claims(now: i64) -> serde_json::Value {
        serde_json::json!({
            "iss": "gatehouse", "aud": "gatehouse-api", "sub": Uuid::now_v7().to_string(),
            "sid": Uuid::now_v7().to_string(),
            "exp": now + 60, "iat": now, "nbf": now, "jti": Uuid::now_v7().to_string(),
            "scope": "me", "role": "user"
        })
    }

    #[test]
    fn round_trip_carries_every_claim() {
        let service = service();
        let user = user();
        let now = Utc::now();
        let scopes: ScopeSet = [Scope::Me, Scope::TodosRead].into_iter().collect();
        let issued = service
            .issue(&user, &session(), scopes.clone(), now)
            .unwrap();
        assert_eq!(issued.lifetime_secs(), 900);
        assert_eq!(
            issued.claims.issued_at.timestamp_millis(),
            now.timestamp_millis()
        );
        let claims = service.verify(issued.token.expose_secret(), now).unwrap();
        assert_eq!(claims, issued.claims);
        assert_eq!(claims.scopes, scopes);

        let header = jsonwebtoken::decode_header(issued.token.expose_secret()).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.alg, Algorithm::HS256);
    }

    #[test]
    fn a_token_verified_before_is_still_checked_for_time_and_exact_bytes() {
        let service = service();
        let now = Utc::now();
        let issued = service
            .issue(&user(), &session(), ScopeSet::default(), now)
            .unwrap();
        let token = issued.token.expose_secret();
        assert_eq!(service.verify(token, now).unwrap(), issued.claims);
        assert_eq!(service.verified().len(), 1);
        // Remembered, yet expired once its time is up.
        let later = now + Duration::minutes(16);
        assert!(matches!(
            service.verify(token, later),
            Err(TokenError::Expired)
        ));
        // Another signature on the same header and claims is not the remembered token.
        let (signed, _) = token.rsplit_once('.').unwrap();
        let forged = format!("{signed}.{}", "A".repeat(43));
        assert!(service.verify(&forged, now).is_err());
        assert_eq!(service.verified().len(), 1);
    }

    #[test]
    fn refuses_expired_and_future_tokens_by_the_given_clock() {
        let service = service();
        let now = Utc::now();
        let issued = service
            .issue(&user(), &session(), ScopeSet::default(), now)
            .unwrap();
        let token = issued.token.expose_secret();
        assert!(matches!(
            service.verify(token, now + Duration::minutes(16)),
            Err(TokenError::Expired)
        ));
        assert!(matches!(
            service.verify(token, now - Duration::minutes(5)),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn refuses_tokens_that_are_wrong_in_any_claim_or_header() {
        let service = service();
        let now = Utc::now().timestamp();
        let good = sign(&at_header(), &claims(now), SECRET);
        assert!(service.verify(&good, Utc::now()).is_ok());

        let mut wrong_typ = at_header();
        wrong_typ.typ = Some("JWT".into());
        let mut cases = vec![
            (
                "wrong secret",
                sign(
                    &at_header(),
                    &claims(now),
                    "another-secret-of-32-bytes-long!!",
                ),
            ),
            ("wrong typ", sign(&wrong_typ, &claims(now), SECRET)),
            ("HS512", {
                let mut header = at_header();
                header.alg = Algorithm::HS512;
                sign(&header, &claims(now), SECRET)
            }),
            ("garbage", "not.a.token".to_owned()),
        ];
        for (claim, value) in [
            ("iss", serde_json::json!("someone-else")),
            ("aud", serde_json::json!("another-api")),
            ("sub", serde_json::json!("not-a-uuid")),
            ("scope", serde_json::json!("root")),
            ("role", serde_json::json!("superuser")),
        ] {
            let mut body = claims(now);
            body[claim] = value;
            cases.push((claim, sign(&at_header(), &body, SECRET)));
        }
        for claim in [
            "iss", "aud", "sub", "exp", "iat", "nbf", "jti", "scope", "role",
        ] {
            let mut body = claims(now);
            body.as_object_mut().unwrap().remove(claim);
            cases.push((claim, sign(&at_header(), &body, SECRET)));
        }
        for (name, token) in cases {
            assert!(
                service.verify(&token, Utc::now()).is_err(),
                "{name} was accepted"
            );
        }
    }

    #[test]
    fn refuses_alg_none() {
        let service = service();
        let claims = claims(Utc::now().timestamp());
        use base64::Engine as _;
        let encode = |value: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
        };
        let token = format!(
            "{}.{}.",
            encode(&serde_json::json!({"alg": "none", "typ": "at+jwt"})),
            encode(&claims)
        );
        assert!(service.verify(&token, Utc::now()).is_err());
    }

    fn eddsa(active: &SecretString, retired: Vec<String>) -> JwtService {
        let retired = retired
            .into_iter()
            .map(|pem| RetiredKey::Public {
                pem,
                rsa: RsaScheme::Rs256,
            })
            .collect();
        ring(ActiveKey::Ed25519(active.clone()), retired)
    }

    fn ring(active: ActiveKey, retired: Vec<RetiredKey>) -> JwtService {
        JwtService::new(JwtConfig {
            keys: SigningKeys { active, retired },
            issuer: "gatehouse".into(),
            id_token_issuer: "https://id.example.com".into(),
            audience: "gatehouse-api".into(),
            access_token_ttl: Duration::minutes(15),
            leeway: Duration::seconds(30),
        })
        .unwrap()
    }

    #[test]
    fn eddsa_keys_rotate_without_invalidating_issued_tokens() {
        let (old_private, old_public) = keys::generate_ed25519().unwrap();
        let (new_private, _) = keys::generate_ed25519().unwrap();
        let now = Utc::now();
        let before = eddsa(&old_private, vec![]);
        let token = before
            .issue(&user(), &session(), ScopeSet::default(), now)
            .unwrap();
        let header = jsonwebtoken::decode_header(token.token.expose_secret()).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(
            header.kid.as_deref(),
            Some(before.public_keys()[0].kid.as_str())
        );

        let rotated = eddsa(&new_private, vec![old_public.clone()]);
        assert_eq!(rotated.public_keys().len(), 2);
        assert!(rotated.verify(token.token.expose_secret(), now).is_ok());
        let retired_gone = eddsa(&new_private, vec![]);
        assert!(
            retired_gone
                .verify(token.token.expose_secret(), now)
                .is_err()
        );

        // Algorithm confusion: HS256 keyed with the public key is refused.
        let public = keys::parse_public(&old_public).unwrap();
        let mut header = at_header();
        header.kid = Some(keys::key_id(&public));
        let forged = jsonwebtoken::encode(
            &header,
            &claims(now.timestamp()),
            &EncodingKey::from_secret(public.as_bytes()),
        )
        .unwrap();
        assert!(matches!(
            rotated.verify(&forged, now),
            Err(TokenError::Invalid("unexpected algorithm"))
        ));
    }

    #[test]
    fn refuses_short_secrets() {
        let result = JwtService::new(JwtConfig {
            keys: SigningKeys::hs256(SecretString::from("short")),
            issuer: "i".into(),
            id_token_issuer: "https://id.example.com".into(),
            audience: "a".into(),
            access_token_ttl: Duration::minutes(15),
            leeway: Duration::zero(),
        });
        assert!(matches!(
            result,
            Err(JwtConfigError::Key(KeyError::SecretTooShort))
        ));
    }

    #[test]
    fn hs256_secrets_rotate_and_unnamed_tokens_use_the_active_secret() {
        let other = "another-secret-of-32-bytes-long!!";
        let now = Utc::now();
        let old = service();
        let token = old
            .issue(&user(), &session(), ScopeSet::default(), now)
            .unwrap();
        let header = jsonwebtoken::decode_header(token.token.expose_secret()).unwrap();
        assert_eq!(header.kid.as_deref(), Some(old.active_key_id()));

        let rotated = ring(
            ActiveKey::Hs256(SecretString::from(other)),
            vec![RetiredKey::Hs256(SecretString::from(SECRET))],
        );
        assert_ne!(rotated.active_key_id(), old.active_key_id());
        assert!(rotated.verify(token.token.expose_secret(), now).is_ok());
        assert!(rotated.public_keys().is_empty());
        // Another service's HS256 token without a kid: checked with the active secret only.
        let unnamed = sign(&at_header(), &claims(now.timestamp()), other);
        assert!(rotated.verify(&unnamed, now).is_ok());
        let unnamed_old = sign(&at_header(), &claims(now.timestamp()), SECRET);
        assert!(rotated.verify(&unnamed_old, now).is_err());

        let dropped = ring(ActiveKey::Hs256(SecretString::from(other)), vec![]);
        assert!(dropped.verify(token.token.expose_secret(), now).is_err());
    }

    #[test]
    fn rsa_schemes_sign_verify_and_refuse_confusion() {
        let (private, public) = keys::generate_rsa(2048).unwrap();
        let now = Utc::now();
        for (scheme, alg) in [
            (RsaScheme::Rs256, Algorithm::RS256),
            (RsaScheme::Ps256, Algorithm::PS256),
        ] {
            let service = ring(ActiveKey::Rsa(scheme, private.clone()), vec![]);
            let token = service
                .issue(&user(), &session(), ScopeSet::default(), now)
                .unwrap();
            let header = jsonwebtoken::decode_header(token.token.expose_secret()).unwrap();
            assert_eq!(header.alg, alg);
            assert!(service.verify(token.token.expose_secret(), now).is_ok());
            assert_eq!(service.public_keys().len(), 1);

            // HS256 keyed with the public PEM (the classic confusion), under the RSA kid.
            let mut forged_header = at_header();
            forged_header.kid = header.kid.clone();
            let forged = jsonwebtoken::encode(
                &forged_header,
                &claims(now.timestamp()),
                &EncodingKey::from_secret(public.as_bytes()),
            )
            .unwrap();
            assert!(matches!(
                service.verify(&forged, now),
                Err(TokenError::Invalid("unexpected algorithm"))
            ));
        }
        // A token of one RSA scheme is not accepted as the other.
        let rs = ring(ActiveKey::Rsa(RsaScheme::Rs256, private.clone()), vec![]);
        let ps = ring(ActiveKey::Rsa(RsaScheme::Ps256, private.clone()), vec![]);
        let token = rs
            .issue(&user(), &session(), ScopeSet::default(), now)
            .unwrap();
        assert!(ps.verify(token.token.expose_secret(), now).is_err());
    }

    #[test]
    fn a_move_from_hs256_to_eddsa_keeps_issued_tokens_valid() {
        let now = Utc::now();
        let token = service()
            .issue(&user(), &session(), ScopeSet::default(), now)
            .unwrap();
        let (private, _) = keys::generate_ed25519().unwrap();
        let moved = ring(
            ActiveKey::Ed25519(private),
            vec![RetiredKey::Hs256(SecretString::from(SECRET))],
        );
        assert!(moved.verify(token.token.expose_secret(), now).is_ok());
        // Only the public Ed25519 key is published, never the secret.
        assert_eq!(moved.public_keys().len(), 1);
        // An HS256 token without a kid is no longer accepted once the active key is EdDSA.
        let unnamed = sign(&at_header(), &claims(now.timestamp()), SECRET);
        assert!(moved.verify(&unnamed, now).is_err());
    }
}
