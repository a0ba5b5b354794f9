//! JWT access tokens (RFC 9068 profile) signed with HS256: the domain's `AccessTokenService`.
//!
//! The HMAC key is the UTF-8 bytes of the configured secret, so any JWT library given the
//! same string verifies our tokens. Verification pins the algorithm, requires the
//! `at+jwt` type and every claim, and checks times against the injected clock's `now`.

use chrono::{DateTime, Duration, Utc};
use gatehouse_domain::ports::{AccessClaims, AccessToken, AccessTokenService, TokenError};
use gatehouse_domain::{Role, ScopeSet, SessionId, User, UserId};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::keys::{self, PublicJwk};

/// The `typ` header of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// Shortest HS256 secret accepted, in bytes (RFC 7518 §3.2: key size ≥ hash output).
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    #[error("invalid signing key: {0}")]
    Key(String),
    #[error("the JWT secret must be at least {MIN_SECRET_BYTES} bytes")]
    SecretTooShort,
    #[error("the access-token lifetime must be positive")]
    NonPositiveLifetime,
}

/// The keys tokens are signed and verified with.
pub enum SigningKeys {
    /// HS256 with the UTF-8 bytes of a shared secret (at least 32 bytes).
    Hs256(SecretString),
    /// EdDSA: `active` (a PKCS#8 PEM private key) signs; `retired` (SPKI PEM public keys)
    /// still verify tokens signed before a rotation. Tokens name their key with `kid`.
    Ed25519 {
        active: SecretString,
        retired: Vec<String>,
    },
}

pub struct JwtConfig {
    pub keys: SigningKeys,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl: Duration,
    /// Tolerated clock difference between instances for `nbf` and `iat`.
    pub leeway: Duration,
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
}

pub struct JwtService {
    algorithm: Algorithm,
    encoding: EncodingKey,
    /// The signing key's id, put in every header (EdDSA only).
    active_kid: Option<String>,
    /// Verification keys by `kid`; the HS256 key under `None`.
    decoding: std::collections::HashMap<Option<String>, DecodingKey>,
    jwks: Vec<PublicJwk>,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
    leeway: Duration,
}

impl JwtService {
    pub fn new(config: JwtConfig) -> Result<Self, JwtConfigError> {
        if config.access_token_ttl <= Duration::zero() {
            return Err(JwtConfigError::NonPositiveLifetime);
        }
        let mut decoding = std::collections::HashMap::new();
        let mut jwks = Vec::new();
        let (algorithm, encoding, active_kid) = match &config.keys {
            SigningKeys::Hs256(secret) => {
                let key = secret.expose_secret().as_bytes();
                if key.len() < MIN_SECRET_BYTES {
                    return Err(JwtConfigError::SecretTooShort);
                }
                decoding.insert(None, DecodingKey::from_secret(key));
                (Algorithm::HS256, EncodingKey::from_secret(key), None)
            }
            SigningKeys::Ed25519 { active, retired } => {
                let signing =
                    keys::parse_private(active).map_err(|e| JwtConfigError::Key(e.to_string()))?;
                let encoding = EncodingKey::from_ed_pem(active.expose_secret().as_bytes())
                    .map_err(|e| JwtConfigError::Key(e.to_string()))?;
                let mut publics = vec![signing.verifying_key()];
                for pem in retired {
                    publics.push(
                        keys::parse_public(pem).map_err(|e| JwtConfigError::Key(e.to_string()))?,
                    );
                }
                for public in &publics {
                    let jwk = keys::public_jwk(public);
                    let key = DecodingKey::from_ed_components(&jwk.x)
                        .map_err(|e| JwtConfigError::Key(e.to_string()))?;
                    decoding.insert(Some(jwk.kid.clone()), key);
                    jwks.push(jwk);
                }
                let kid = keys::key_id(&signing.verifying_key());
                (Algorithm::EdDSA, encoding, Some(kid))
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        // Times are checked below against the injected clock, not the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Ok(Self {
            algorithm,
            encoding,
            active_kid,
            decoding,
            jwks,
            validation,
            issuer: config.issuer,
            audience: config.audience,
            ttl: config.access_token_ttl,
            leeway: config.leeway,
        })
    }

    /// The public keys other services verify our tokens with (empty for HS256).
    pub fn public_keys(&self) -> &[PublicJwk] {
        &self.jwks
    }

    fn check_times(&self, claims: &Claims, now: DateTime<Utc>) -> Result<(), TokenError> {
        let now = now.timestamp();
        let leeway = self.leeway.num_seconds();
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        if claims.nbf > now + leeway {
            return Err(TokenError::Invalid("not yet valid"));
        }
        if claims.iat > now + leeway {
            return Err(TokenError::Invalid("issued in the future"));
        }
        Ok(())
    }
}

impl AccessTokenService for JwtService {
    fn issue(
        &self,
        user: &User,
        session: SessionId,
        scopes: ScopeSet,
        now: DateTime<Utc>,
    ) -> Result<AccessToken, TokenError> {
        // `iat` has whole seconds; the jti, a UUIDv7 stamped with `now`, carries the
        // milliseconds, so a token issued just before a password change is still told apart.
        let issued_at = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        let token_id = Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            issued_at.timestamp() as u64,
            issued_at.timestamp_subsec_nanos(),
        ));
        let expires_at =
            DateTime::from_timestamp(issued_at.timestamp(), 0).unwrap_or(issued_at) + self.ttl;
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.id.to_string(),
            sid: session.to_string(),
            exp: expires_at.timestamp(),
            iat: issued_at.timestamp(),
            nbf: issued_at.timestamp(),
            jti: token_id.to_string(),
            scope: scopes.to_string(),
            role: user.role.as_str().to_owned(),
        };
        let mut header = Header::new(self.algorithm);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.kid = self.active_kid.clone();
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|error| TokenError::Signing(error.to_string()))?;
        Ok(AccessToken {
            token: SecretString::from(token),
            claims: AccessClaims {
                user_id: user.id,
                session_id: session,
                token_id,
                issued_at,
                expires_at,
                scopes,
                role: user.role,
            },
        })
    }

    fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid("malformed"))?;
        if !header
            .typ
            .as_deref()
            .is_some_and(|typ| typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE))
        {
            return Err(TokenError::Invalid("not an access token"));
        }
        // The algorithm is pinned: a token naming another one (HS256 signed with our public
        // key, say) is refused before any key is chosen.
        if header.alg != self.algorithm {
            return Err(TokenError::Invalid("unexpected algorithm"));
        }
        let kid = match self.algorithm {
            Algorithm::HS256 => None,
            _ => Some(header.kid.ok_or(TokenError::Invalid("no key id"))?),
        };
        let key = self
            .decoding
            .get(&kid)
            .ok_or(TokenError::Invalid("unknown key id"))?;
        let data =
            jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|error| {
                TokenError::Invalid(match error.kind() {
                    ErrorKind::InvalidSignature => "bad signature",
                    ErrorKind::InvalidAlgorithm => "unexpected algorithm",
                    ErrorKind::InvalidIssuer => "wrong issuer",
                    ErrorKind::InvalidAudience => "wrong audience",
                    ErrorKind::MissingRequiredClaim(_) => "missing claim",
                    _ => "malformed",
                })
            })?;
        let claims = data.claims;
        self.check_times(&claims, now)?;
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
        Ok(AccessClaims {
            user_id,
            session_id,
            token_id,
            issued_at: precise_issue_time(claims.iat, token_id)?,
            expires_at: to_time(claims.exp)?,
            scopes,
            role,
        })
    }
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
    use gatehouse_domain::{Email, PasswordHash, Scope};

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn service() -> JwtService {
        JwtService::new(JwtConfig {
            keys: SigningKeys::Hs256(SecretString::from(SECRET)),
            issuer: "gatehouse".into(),
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
            .issue(&user, SessionId::generate(), scopes.clone(), now)
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
    fn refuses_expired_and_future_tokens_by_the_given_clock() {
        let service = service();
        let now = Utc::now();
        let issued = service
            .issue(&user(), SessionId::generate(), ScopeSet::default(), now)
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
        JwtService::new(JwtConfig {
            keys: SigningKeys::Ed25519 {
                active: active.clone(),
                retired,
            },
            issuer: "gatehouse".into(),
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
            .issue(&user(), SessionId::generate(), ScopeSet::default(), now)
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
            keys: SigningKeys::Hs256(SecretString::from("short")),
            issuer: "i".into(),
            audience: "a".into(),
            access_token_ttl: Duration::minutes(15),
            leeway: Duration::zero(),
        });
        assert!(matches!(result, Err(JwtConfigError::SecretTooShort)));
    }
}
