//! In-memory fakes of the domain's ports, for the use cases' unit tests (the black-box
//! suite runs the same rules over real storage). Each keeps the contract its port states,
//! atomic under one lock where storage must be atomic.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::audit::{AuditEvent, AuditFilter, AuditLog};
use crate::clock::Clock;
use crate::email::Email;
use crate::error::RepositoryError;
use crate::mfa::*;
use crate::oauth::*;
use crate::pagination::Page;
use crate::password::PasswordHash;
use crate::ports::*;
use crate::scope::ScopeSet;
use crate::session::{Session, SessionId, SessionLifetimes};
use crate::throttle::{Bucket, Count, ThrottleRepository};
use crate::user::{Role, User, UserFilter, UserId};

#[derive(Default)]
pub(crate) struct InMemoryUsers(pub(crate) Mutex<Vec<User>>);

#[async_trait]
impl UserRepository for InMemoryUsers {
    async fn insert(&self, user: &User) -> Result<(), InsertUserError> {
        let mut users = self.0.lock().unwrap();
        if users.iter().any(|u| u.email == user.email) {
            return Err(InsertUserError::EmailTaken);
        }
        users.push(user.clone());
        Ok(())
    }
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepositoryError> {
        Ok(self.0.lock().unwrap().iter().find(|u| u.id == id).cloned())
    }
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepositoryError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .find(|u| &u.email == email)
            .cloned())
    }
    async fn upgrade_password_hash(
        &self,
        id: UserId,
        expected: &PasswordHash,
        new: &PasswordHash,
        _: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let mut users = self.0.lock().unwrap();
        let user = users.iter_mut().find(|u| u.id == id).unwrap();
        if &user.password_hash != expected {
            return Ok(false);
        }
        user.password_hash = new.clone();
        Ok(true)
    }
    async fn ping(&self) -> Result<(), RepositoryError> {
        Ok(())
    }
    async fn list(
        &self,
        _filter: &UserFilter,
        _page: Page,
    ) -> Result<(Vec<User>, u64), RepositoryError> {
        let users = self.0.lock().unwrap().clone();
        let total = users.len() as u64;
        Ok((users, total))
    }
    async fn update(&self, user: &User, _: DateTime<Utc>) -> Result<(), SaveUserError> {
        let mut users = self.0.lock().unwrap();
        let stored = users
            .iter_mut()
            .find(|u| u.id == user.id)
            .ok_or(SaveUserError::NotFound)?;
        *stored = user.clone();
        Ok(())
    }
    async fn update_credential(
        &self,
        user: &User,
        _: DateTime<Utc>,
        _: Option<SessionId>,
        _: DateTime<Utc>,
    ) -> Result<u64, SaveUserError> {
        // Sessions are the session fake's: this one keeps the new credential version only.
        let mut users = self.0.lock().unwrap();
        let stored = users
            .iter_mut()
            .find(|u| u.id == user.id)
            .ok_or(SaveUserError::NotFound)?;
        *stored = user.clone();
        Ok(0)
    }
    async fn delete(&self, id: UserId) -> Result<(), SaveUserError> {
        self.0.lock().unwrap().retain(|u| u.id != id);
        Ok(())
    }
}

/// "Hashes" as `v2:<password>`; `v1:` hashes verify but ask for a re-hash.
pub(crate) struct FakeHasher {
    pub(crate) dummy: PasswordHash,
    pub(crate) hashes: AtomicUsize,
    pub(crate) verifications: AtomicUsize,
}

impl Default for FakeHasher {
    fn default() -> Self {
        Self {
            dummy: PasswordHash::new("v2:\u{0}unguessable"),
            hashes: AtomicUsize::new(0),
            verifications: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl PasswordVerifier for FakeHasher {
    async fn verify(
        &self,
        _turn: HashingTurn,
        password: &SecretString,
        hash: &PasswordHash,
    ) -> Result<Verification, HashingError> {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        let (version, stored) = hash.as_str().split_once(':').unwrap();
        Ok(if stored == password.expose_secret() {
            Verification::Match {
                needs_rehash: version != "v2",
            }
        } else {
            Verification::Mismatch
        })
    }
}

#[async_trait]
impl PasswordHasher for FakeHasher {
    async fn hash(&self, password: &SecretString) -> Result<PasswordHash, HashingError> {
        self.hashes.fetch_add(1, Ordering::SeqCst);
        Ok(PasswordHash::new(format!(
            "v2:{}",
            password.expose_secret()
        )))
    }
    fn dummy_hash(&self) -> &PasswordHash {
        &self.dummy
    }
    async fn admit(&self) -> Result<HashingTurn, HashingError> {
        Ok(HashingTurn::none())
    }
    fn supports(&self, hash: &PasswordHash) -> bool {
        hash.as_str().starts_with("v")
    }
}

/// Sessions in memory, and browser cookies' digests with their sessions; rotation is not
/// exercised here (the black-box tests do).
pub(crate) struct InMemorySessions(
    pub(crate) Mutex<Vec<Session>>,
    pub(crate) Arc<InMemoryUsers>,
    pub(crate) Mutex<Vec<(TokenDigest, SessionId)>>,
);

#[async_trait]
impl SessionRepository for InMemorySessions {
    async fn create(&self, session: &Session, _: &TokenDigest) -> Result<(), RepositoryError> {
        self.0.lock().unwrap().push(session.clone());
        Ok(())
    }
    async fn find(&self, id: SessionId) -> Result<Option<Session>, RepositoryError> {
        Ok(self.0.lock().unwrap().iter().find(|s| s.id == id).cloned())
    }
    async fn find_with_user(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, User)>, RepositoryError> {
        let Some(session) = self.find(id).await? else {
            return Ok(None);
        };
        let user = self.1.find_by_id(session.user_id).await?;
        Ok(user.map(|user| (session, user)))
    }
    async fn find_by_refresh(&self, _: &TokenDigest) -> Result<Option<Session>, RepositoryError> {
        Ok(None)
    }
    async fn find_by_any_refresh(
        &self,
        _: &TokenDigest,
    ) -> Result<Option<Session>, RepositoryError> {
        Ok(None)
    }
    async fn rotate(
        &self,
        _: &TokenDigest,
        _: &TokenDigest,
        _: DateTime<Utc>,
        _: SessionLifetimes,
        _: &RotationRecord,
    ) -> Result<Rotation, RepositoryError> {
        Ok(Rotation::Invalid)
    }
    async fn list_live(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, RepositoryError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.user_id == user && s.is_live(now))
            .cloned()
            .collect())
    }
    async fn revoke(
        &self,
        _: UserId,
        id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let mut sessions = self.0.lock().unwrap();
        let session = sessions.iter_mut().find(|s| s.id == id);
        Ok(session.map(|s| s.revoked_at = Some(now)).is_some())
    }
    async fn reauthenticated(
        &self,
        _: UserId,
        id: SessionId,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let mut sessions = self.0.lock().unwrap();
        let session = sessions.iter_mut().find(|s| s.id == id && s.is_live(at));
        Ok(session.map(|s| s.authenticated_at = at).is_some())
    }
    async fn revoke_all(
        &self,
        _: UserId,
        _: Option<SessionId>,
        _: DateTime<Utc>,
    ) -> Result<u64, RepositoryError> {
        Ok(0)
    }
    async fn purge(&self, _: DateTime<Utc>) -> Result<u64, RepositoryError> {
        Ok(0)
    }
    async fn create_browser(
        &self,
        session: &Session,
        cookie: &TokenDigest,
    ) -> Result<(), RepositoryError> {
        self.2.lock().unwrap().push((cookie.clone(), session.id));
        self.0.lock().unwrap().push(session.clone());
        Ok(())
    }
    async fn find_browser(
        &self,
        cookie: &TokenDigest,
    ) -> Result<Option<(Session, User)>, RepositoryError> {
        let id = self
            .2
            .lock()
            .unwrap()
            .iter()
            .find(|(c, _)| c == cookie)
            .map(|(_, id)| *id);
        match id {
            Some(id) => self.find_with_user(id).await,
            None => Ok(None),
        }
    }
    async fn revoke_client(
        &self,
        _: &crate::oauth::ClientId,
        _: DateTime<Utc>,
    ) -> Result<u64, RepositoryError> {
        Ok(0)
    }
}

pub(crate) struct FakeOpaque;

impl OpaqueTokens for FakeOpaque {
    fn generate(&self) -> SecretString {
        SecretString::from(uuid::Uuid::new_v4().to_string())
    }
    fn digest(&self, token: &SecretString) -> TokenDigest {
        TokenDigest::new(format!("digest:{}", token.expose_secret()))
    }
    /// Not SHA-256: the verifier's last 43 characters, reversed (a challenge's shape when
    /// the verifier is made of letters).
    fn s256_challenge(&self, verifier: &str) -> String {
        verifier.chars().rev().take(43).collect()
    }
}

/// Tokens are `<user id> <session id>`.
pub(crate) struct FakeTokens;

impl AccessTokenService for FakeTokens {
    fn issue(
        &self,
        user: &User,
        session: &Session,
        scopes: ScopeSet,
        now: DateTime<Utc>,
    ) -> Result<AccessToken, TokenError> {
        Ok(AccessToken {
            token: SecretString::from(format!("{} {}", user.id, session.id)),
            claims: AccessClaims {
                user_id: user.id,
                session_id: session.id,
                token_id: uuid::Uuid::now_v7(),
                issued_at: now,
                expires_at: now + Duration::minutes(15),
                scopes,
                role: user.role,
                amr: session.amr,
            },
        })
    }
    fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, TokenError> {
        let (user, session) = token
            .split_once(' ')
            .ok_or(TokenError::Invalid("garbage"))?;
        let parse = |s: &str| s.parse().map_err(|_| TokenError::Invalid("garbage"));
        Ok(AccessClaims {
            user_id: UserId::from_uuid(parse(user)?),
            session_id: SessionId::from_uuid(parse(session)?),
            token_id: uuid::Uuid::now_v7(),
            issued_at: now,
            expires_at: now + Duration::minutes(15),
            scopes: ScopeSet::all_for(Role::User),
            role: Role::User,
            amr: Amr::Password,
        })
    }
    fn signs_for_apis(&self) -> bool {
        true
    }
    /// Tokens for APIs are `api <audience> <token id>`, and verify as nothing.
    fn issue_for_api(
        &self,
        claims: crate::ports::ApiTokenClaims,
        now: DateTime<Utc>,
    ) -> Result<crate::ports::ApiAccessToken, TokenError> {
        let claims = crate::ports::ApiTokenClaims {
            token_id: uuid::Uuid::now_v7(),
            issued_at: now,
            expires_at: now + Duration::minutes(15),
            ..claims
        };
        Ok(crate::ports::ApiAccessToken {
            token: SecretString::from(format!("api {} {}", claims.audience, claims.token_id)),
            claims,
        })
    }
    fn verify_for_api(
        &self,
        _token: &str,
        _now: DateTime<Utc>,
    ) -> Result<crate::ports::ApiTokenClaims, TokenError> {
        Err(TokenError::Invalid("the fake verifies no API token"))
    }
}

pub(crate) struct FixedClock(pub(crate) DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// Keeps nothing: the black-box tests read the audit trail from real storage.
pub(crate) struct NoAudit;

#[async_trait]
impl AuditLog for NoAudit {
    async fn record(&self, _: &AuditEvent) -> Result<(), RepositoryError> {
        Ok(())
    }
    async fn list(
        &self,
        _: &AuditFilter,
        _: Page,
    ) -> Result<(Vec<AuditEvent>, u64), RepositoryError> {
        Ok((Vec::new(), 0))
    }
}

/// The code of a step is the step number's last six digits; secrets are not secret here.
pub(crate) struct FakeAuthenticators;

pub(crate) fn code_at(now: DateTime<Utc>, steps: i64) -> String {
    format!("{:06}", (now.timestamp() / 30 + steps) % 1_000_000)
}

impl Authenticators for FakeAuthenticators {
    fn enrol(&self, user: UserId, account: &Email) -> (SealedSecret, Enrolment) {
        (
            SealedSecret::new(format!("sealed:{user}:{}", uuid::Uuid::new_v4())),
            Enrolment {
                secret: SecretString::from("SECRET"),
                uri: SecretString::from(format!("otpauth://totp/gatehouse:{account}")),
            },
        )
    }
    fn check(
        &self,
        _: UserId,
        _: &SealedSecret,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, OtpError> {
        let step = now.timestamp() / 30;
        Ok((-1..=1)
            .map(|offset| step + offset)
            .find(|candidate| format!("{:06}", candidate % 1_000_000) == code))
    }
    fn reseal(&self, _: UserId, _: &SealedSecret) -> Option<SealedSecret> {
        None
    }
    fn recovery_codes(&self) -> Vec<SecretString> {
        (0..RECOVERY_CODES)
            .map(|_| SecretString::from(uuid::Uuid::new_v4().to_string()))
            .collect()
    }
    fn recovery_digest(&self, code: &SecretString) -> Option<TokenDigest> {
        Some(TokenDigest::new(format!("rc:{}", code.expose_secret())))
    }
}

#[derive(Default)]
pub(crate) struct InMemoryMfa {
    pub(crate) credentials: Mutex<HashMap<UserId, MfaCredential>>,
    /// (user, digest, used)
    pub(crate) codes: Mutex<Vec<(UserId, TokenDigest, bool)>>,
    /// digest → (challenge, redeemed)
    pub(crate) challenges: Mutex<HashMap<String, (Challenge, bool)>>,
}

#[async_trait]
impl MfaRepository for InMemoryMfa {
    async fn find(&self, user: UserId) -> Result<Option<MfaCredential>, RepositoryError> {
        Ok(self.credentials.lock().unwrap().get(&user).cloned())
    }
    async fn start(
        &self,
        user: UserId,
        sealed: &SealedSecret,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let mut credentials = self.credentials.lock().unwrap();
        if credentials
            .get(&user)
            .is_some_and(|c| c.confirmed_at.is_some())
        {
            return Ok(false);
        }
        credentials.insert(
            user,
            MfaCredential {
                user_id: user,
                sealed: sealed.clone(),
                confirmed_at: None,
                last_step: None,
                created_at: now,
            },
        );
        Ok(true)
    }
    async fn confirm(
        &self,
        user: UserId,
        sealed: &SealedSecret,
        step: i64,
        codes: &[TokenDigest],
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        {
            let mut credentials = self.credentials.lock().unwrap();
            match credentials.get_mut(&user) {
                Some(c) if c.confirmed_at.is_none() && &c.sealed == sealed => {
                    c.confirmed_at = Some(now);
                    c.last_step = Some(step);
                }
                _ => return Ok(false),
            }
        }
        self.replace_recovery_codes(user, codes, now).await?;
        Ok(true)
    }
    async fn use_step(
        &self,
        user: UserId,
        step: i64,
        _: Option<&SealedSecret>,
    ) -> Result<bool, RepositoryError> {
        let mut credentials = self.credentials.lock().unwrap();
        let Some(c) = credentials.get_mut(&user) else {
            return Ok(false);
        };
        if c.last_step.is_some_and(|last| last >= step) {
            return Ok(false);
        }
        c.last_step = Some(step);
        Ok(true)
    }
    async fn use_recovery_code(
        &self,
        user: UserId,
        digest: &TokenDigest,
        _: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let mut codes = self.codes.lock().unwrap();
        match codes
            .iter_mut()
            .find(|(owner, d, used)| *owner == user && d == digest && !*used)
        {
            Some(code) => {
                code.2 = true;
                Ok(true)
            }
            None => Ok(false),
        }
    }
    async fn replace_recovery_codes(
        &self,
        user: UserId,
        codes: &[TokenDigest],
        _: DateTime<Utc>,
    ) -> Result<(), RepositoryError> {
        let mut stored = self.codes.lock().unwrap();
        stored.retain(|(owner, _, _)| *owner != user);
        stored.extend(codes.iter().map(|d| (user, d.clone(), false)));
        Ok(())
    }
    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, RepositoryError> {
        Ok(self
            .codes
            .lock()
            .unwrap()
            .iter()
            .filter(|(owner, _, used)| *owner == user && !used)
            .count() as u32)
    }
    async fn remove(&self, user: UserId) -> Result<bool, RepositoryError> {
        self.codes
            .lock()
            .unwrap()
            .retain(|(owner, _, _)| *owner != user);
        Ok(self
            .credentials
            .lock()
            .unwrap()
            .remove(&user)
            .is_some_and(|c| c.confirmed_at.is_some()))
    }
    async fn enabled_among(&self, users: &[UserId]) -> Result<HashSet<UserId>, RepositoryError> {
        let credentials = self.credentials.lock().unwrap();
        Ok(users
            .iter()
            .filter(|u| credentials.get(u).is_some_and(|c| c.confirmed_at.is_some()))
            .copied()
            .collect())
    }
    async fn create_challenge(
        &self,
        digest: &TokenDigest,
        challenge: &Challenge,
    ) -> Result<(), RepositoryError> {
        self.challenges
            .lock()
            .unwrap()
            .insert(digest.as_str().to_owned(), (challenge.clone(), false));
        Ok(())
    }
    async fn find_challenge(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<Challenge>, RepositoryError> {
        Ok(self
            .challenges
            .lock()
            .unwrap()
            .get(digest.as_str())
            .filter(|(_, redeemed)| !redeemed)
            .map(|(c, _)| c.clone()))
    }
    async fn redeem_challenge(
        &self,
        digest: &TokenDigest,
        _: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let mut challenges = self.challenges.lock().unwrap();
        match challenges.get_mut(digest.as_str()) {
            Some((_, redeemed)) if !*redeemed => {
                *redeemed = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    async fn purge_challenges(&self, _: DateTime<Utc>) -> Result<u64, RepositoryError> {
        Ok(0)
    }
}

/// Clients, and what each may ask for on APIs.
#[derive(Default)]
pub(crate) struct InMemoryClients(
    Mutex<Vec<Client>>,
    Mutex<Vec<(ClientId, crate::oauth::ApiAccess)>>,
);

#[async_trait]
impl ClientRepository for InMemoryClients {
    async fn insert(&self, client: &Client) -> Result<(), InsertClientError> {
        let mut clients = self.0.lock().unwrap();
        if clients.iter().any(|c| c.id == client.id) {
            return Err(InsertClientError::IdTaken);
        }
        clients.push(client.clone());
        Ok(())
    }
    async fn find(&self, id: &ClientId) -> Result<Option<Client>, RepositoryError> {
        Ok(self.0.lock().unwrap().iter().find(|c| c.id == *id).cloned())
    }
    async fn list(&self) -> Result<Vec<Client>, RepositoryError> {
        Ok(self.0.lock().unwrap().clone())
    }
    async fn delete(&self, id: &ClientId) -> Result<bool, RepositoryError> {
        let mut clients = self.0.lock().unwrap();
        let before = clients.len();
        clients.retain(|c| c.id != *id);
        Ok(clients.len() < before)
    }
    async fn rotate_secret(
        &self,
        id: &ClientId,
        new: &TokenDigest,
        retire_at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let mut clients = self.0.lock().unwrap();
        let Some(client) = clients.iter_mut().find(|c| c.id == *id) else {
            return Ok(false);
        };
        let crate::oauth::ClientKind::Confidential { secret, .. } = &client.kind else {
            return Ok(false);
        };
        client.kind = crate::oauth::ClientKind::Confidential {
            retiring: Some(crate::oauth::RetiringSecret {
                digest: secret.clone(),
                until: retire_at,
            }),
            secret: new.clone(),
        };
        Ok(true)
    }
    /// Knows no API's identifier: each access is named by its API's id.
    async fn set_api_access(
        &self,
        id: &ClientId,
        access: &[(crate::apis::ApiId, Vec<crate::apis::ScopeName>)],
    ) -> Result<bool, RepositoryError> {
        if self.find(id).await?.is_none() {
            return Ok(false);
        }
        let mut all = self.1.lock().unwrap();
        all.retain(|(client, _)| client != id);
        for (api, scopes) in access {
            let identifier =
                crate::apis::ApiIdentifier::parse(&format!("urn:api:{api}")).expect("urn");
            all.push((
                id.clone(),
                crate::oauth::ApiAccess {
                    api: *api,
                    identifier,
                    scopes: scopes.clone(),
                },
            ));
        }
        Ok(true)
    }
    async fn api_access(
        &self,
        id: &ClientId,
    ) -> Result<Vec<crate::oauth::ApiAccess>, RepositoryError> {
        Ok(self
            .1
            .lock()
            .unwrap()
            .iter()
            .filter(|(client, _)| client == id)
            .map(|(_, access)| access.clone())
            .collect())
    }
}

/// Codes by digest: (code, redeemed, replayed).
#[derive(Default)]
pub(crate) struct InMemoryCodes(Mutex<Vec<(TokenDigest, AuthorizationCode, bool, bool)>>);

#[async_trait]
impl AuthorizationCodeRepository for InMemoryCodes {
    async fn insert(
        &self,
        digest: &TokenDigest,
        code: &AuthorizationCode,
    ) -> Result<(), RepositoryError> {
        self.0
            .lock()
            .unwrap()
            .push((digest.clone(), code.clone(), false, false));
        Ok(())
    }
    async fn redeem(
        &self,
        digest: &TokenDigest,
        _: chrono::DateTime<Utc>,
    ) -> Result<Redemption, RepositoryError> {
        let mut codes = self.0.lock().unwrap();
        let Some(row) = codes.iter_mut().find(|(d, ..)| d == digest) else {
            return Ok(Redemption::Unknown);
        };
        if row.2 {
            row.3 = true;
            Ok(Redemption::Replayed(row.1.clone()))
        } else {
            row.2 = true;
            Ok(Redemption::Redeemed(row.1.clone()))
        }
    }
    async fn replayed(&self, digest: &TokenDigest) -> Result<bool, RepositoryError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|(d, _, _, replayed)| d == digest && *replayed))
    }
    async fn purge(&self, _: chrono::DateTime<Utc>) -> Result<u64, RepositoryError> {
        Ok(0)
    }
}

/// "Signs" an ID token as its audience and nonce.
pub(crate) struct FakeIdTokens;

impl IdTokenSigner for FakeIdTokens {
    fn signs_id_tokens(&self) -> bool {
        true
    }
    fn id_token_subject(&self, _: &str) -> Option<(UserId, ClientId)> {
        None
    }
    fn sign_id_token(
        &self,
        claims: &IdClaims,
        _: &SecretString,
    ) -> Result<SecretString, TokenError> {
        Ok(SecretString::from(format!(
            "id:{}:{}",
            claims.audience,
            claims.nonce.as_deref().unwrap_or_default()
        )))
    }
}

/// Counters in memory, atomic under the lock, as storage must be.
#[derive(Default)]
pub(crate) struct InMemoryCounters(pub(crate) Mutex<HashMap<(Bucket, String), Count>>);

#[async_trait::async_trait]
impl ThrottleRepository for InMemoryCounters {
    async fn reserve(
        &self,
        bucket: Bucket,
        subject: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<Count, RepositoryError> {
        let mut counters = self.0.lock().unwrap();
        let entry = counters
            .entry((bucket, subject.to_owned()))
            .or_insert(Count {
                count: 0,
                window_start: now,
            });
        if entry.window_start <= now - window {
            *entry = Count {
                count: 0,
                window_start: now,
            };
        }
        entry.count += 1;
        Ok(*entry)
    }
    async fn release(
        &self,
        bucket: Bucket,
        subject: &str,
        window_start: DateTime<Utc>,
    ) -> Result<(), RepositoryError> {
        let mut counters = self.0.lock().unwrap();
        if let Some(entry) = counters.get_mut(&(bucket, subject.to_owned()))
            && entry.window_start == window_start
            && entry.count > 0
        {
            entry.count -= 1;
        }
        Ok(())
    }
    async fn clear(&self, bucket: Bucket, subject: &str) -> Result<(), RepositoryError> {
        self.0.lock().unwrap().remove(&(bucket, subject.to_owned()));
        Ok(())
    }
    async fn peek(
        &self,
        bucket: Bucket,
        subject: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<u64, RepositoryError> {
        let counters = self.0.lock().unwrap();
        Ok(counters
            .get(&(bucket, subject.to_owned()))
            .filter(|entry| entry.window_start > now - window)
            .map_or(0, |entry| entry.count))
    }
    async fn purge(&self, _: DateTime<Utc>) -> Result<u64, RepositoryError> {
        Ok(0)
    }
}

/// Users and their sessions under one lock, keeping every rule of both ports that storage
/// decides: compare-and-swap on `updated_at`, unique emails, the last active admin, and a
/// credential change that ends the other sessions in the same step as it stores the user.
#[derive(Default)]
pub(crate) struct InMemoryAccounts(pub(crate) Mutex<Accounts>);

#[derive(Default)]
pub(crate) struct Accounts {
    pub(crate) users: Vec<User>,
    pub(crate) sessions: Vec<Session>,
    /// (refresh digest, session, rotated already)
    pub(crate) refresh: Vec<(TokenDigest, SessionId, bool)>,
    /// (cookie digest, session)
    pub(crate) cookies: Vec<(TokenDigest, SessionId)>,
}

fn is_active_admin(user: &User) -> bool {
    user.role == Role::Admin && user.is_active
}

impl Accounts {
    /// `UserRepository::update`'s checks and store, in one step under the caller's lock.
    fn save(&mut self, user: &User, read_at: DateTime<Utc>) -> Result<(), SaveUserError> {
        let stored = self
            .users
            .iter()
            .find(|u| u.id == user.id)
            .ok_or(SaveUserError::NotFound)?;
        if stored.updated_at != read_at {
            return Err(SaveUserError::Conflict);
        }
        if is_active_admin(stored) && !is_active_admin(user) && !self.another_active_admin(user.id)
        {
            return Err(SaveUserError::LastAdmin);
        }
        if self
            .users
            .iter()
            .any(|u| u.id != user.id && u.email == user.email)
        {
            return Err(SaveUserError::EmailTaken);
        }
        let stored = self.users.iter_mut().find(|u| u.id == user.id).unwrap();
        *stored = user.clone();
        Ok(())
    }

    fn another_active_admin(&self, id: UserId) -> bool {
        self.users.iter().any(|u| u.id != id && is_active_admin(u))
    }

    pub(crate) fn user(&self, id: UserId) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub(crate) fn session(&self, id: SessionId) -> Option<&Session> {
        self.sessions.iter().find(|s| s.id == id)
    }
}

#[async_trait]
impl UserRepository for InMemoryAccounts {
    async fn insert(&self, user: &User) -> Result<(), InsertUserError> {
        let mut accounts = self.0.lock().unwrap();
        if accounts.users.iter().any(|u| u.email == user.email) {
            return Err(InsertUserError::EmailTaken);
        }
        accounts.users.push(user.clone());
        Ok(())
    }
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepositoryError> {
        Ok(self.0.lock().unwrap().user(id).cloned())
    }
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepositoryError> {
        let accounts = self.0.lock().unwrap();
        Ok(accounts.users.iter().find(|u| &u.email == email).cloned())
    }
    async fn upgrade_password_hash(
        &self,
        id: UserId,
        expected: &PasswordHash,
        new: &PasswordHash,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let mut accounts = self.0.lock().unwrap();
        match accounts
            .users
            .iter_mut()
            .find(|u| u.id == id && &u.password_hash == expected)
        {
            Some(user) => {
                user.password_hash = new.clone();
                user.updated_at = at;
                Ok(true)
            }
            None => Ok(false),
        }
    }
    async fn ping(&self) -> Result<(), RepositoryError> {
        Ok(())
    }
    async fn list(
        &self,
        filter: &UserFilter,
        page: Page,
    ) -> Result<(Vec<User>, u64), RepositoryError> {
        let accounts = self.0.lock().unwrap();
        let query = filter
            .query
            .as_deref()
            .map(|q| q.trim().to_lowercase())
            .filter(|q| !q.is_empty());
        let mut matching: Vec<User> = accounts
            .users
            .iter()
            .filter(|u| filter.role.is_none_or(|role| u.role == role))
            .filter(|u| filter.is_active.is_none_or(|active| u.is_active == active))
            .filter(|u| {
                query.as_deref().is_none_or(|q| {
                    u.email.as_str().contains(q)
                        || u.full_name
                            .as_ref()
                            .is_some_and(|n| n.as_str().to_lowercase().contains(q))
                })
            })
            .cloned()
            .collect();
        matching.sort_by_key(|u| (u.created_at, u.id.as_uuid()));
        let total = matching.len() as u64;
        let items = matching
            .into_iter()
            .skip(page.offset() as usize)
            .take(page.limit() as usize)
            .collect();
        Ok((items, total))
    }
    async fn update(&self, user: &User, read_at: DateTime<Utc>) -> Result<(), SaveUserError> {
        self.0.lock().unwrap().save(user, read_at)
    }
    async fn update_credential(
        &self,
        user: &User,
        read_at: DateTime<Utc>,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> Result<u64, SaveUserError> {
        let mut accounts = self.0.lock().unwrap();
        accounts.save(user, read_at)?;
        let mut ended = 0;
        for session in accounts
            .sessions
            .iter_mut()
            .filter(|s| s.user_id == user.id && s.revoked_at.is_none())
        {
            if Some(session.id) == keep {
                session.credential_version = user.credential_version;
            } else {
                session.revoked_at = Some(now);
                ended += 1;
            }
        }
        Ok(ended)
    }
    async fn delete(&self, id: UserId) -> Result<(), SaveUserError> {
        let mut accounts = self.0.lock().unwrap();
        let user = accounts.user(id).ok_or(SaveUserError::NotFound)?;
        if is_active_admin(user) && !accounts.another_active_admin(id) {
            return Err(SaveUserError::LastAdmin);
        }
        accounts.users.retain(|u| u.id != id);
        let gone: HashSet<SessionId> = accounts
            .sessions
            .iter()
            .filter(|s| s.user_id == id)
            .map(|s| s.id)
            .collect();
        accounts.sessions.retain(|s| !gone.contains(&s.id));
        accounts.refresh.retain(|(_, s, _)| !gone.contains(s));
        accounts.cookies.retain(|(_, s)| !gone.contains(s));
        Ok(())
    }
}

#[async_trait]
impl SessionRepository for InMemoryAccounts {
    async fn create(
        &self,
        session: &Session,
        refresh: &TokenDigest,
    ) -> Result<(), RepositoryError> {
        let mut accounts = self.0.lock().unwrap();
        accounts.sessions.push(session.clone());
        accounts.refresh.push((refresh.clone(), session.id, false));
        Ok(())
    }
    async fn find(&self, id: SessionId) -> Result<Option<Session>, RepositoryError> {
        Ok(self.0.lock().unwrap().session(id).cloned())
    }
    async fn find_with_user(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, User)>, RepositoryError> {
        let accounts = self.0.lock().unwrap();
        Ok(accounts.session(id).and_then(|session| {
            accounts
                .user(session.user_id)
                .map(|user| (session.clone(), user.clone()))
        }))
    }
    async fn find_by_any_refresh(
        &self,
        refresh: &TokenDigest,
    ) -> Result<Option<Session>, RepositoryError> {
        let accounts = self.0.lock().unwrap();
        Ok(accounts
            .refresh
            .iter()
            .find(|(d, ..)| d == refresh)
            .and_then(|(_, id, _)| accounts.session(*id).cloned()))
    }
    async fn find_by_refresh(
        &self,
        refresh: &TokenDigest,
    ) -> Result<Option<Session>, RepositoryError> {
        let accounts = self.0.lock().unwrap();
        Ok(accounts
            .refresh
            .iter()
            .find(|(d, _, rotated)| d == refresh && !rotated)
            .and_then(|(_, id, _)| accounts.session(*id).cloned()))
    }
    async fn rotate(
        &self,
        old: &TokenDigest,
        new: &TokenDigest,
        now: DateTime<Utc>,
        lifetimes: SessionLifetimes,
        _record: &RotationRecord,
    ) -> Result<Rotation, RepositoryError> {
        let mut accounts = self.0.lock().unwrap();
        let Some(index) = accounts.refresh.iter().position(|(d, ..)| d == old) else {
            return Ok(Rotation::Invalid);
        };
        let (_, id, rotated) = accounts.refresh[index].clone();
        let Some(session) = accounts.sessions.iter_mut().find(|s| s.id == id) else {
            return Ok(Rotation::Invalid);
        };
        if !session.is_live(now) {
            return Ok(Rotation::Invalid);
        }
        if rotated {
            session.revoked_at = Some(now);
            let user = session.user_id;
            return Ok(Rotation::Reused { session: id, user });
        }
        *session = session.refreshed(lifetimes, now);
        let session = session.clone();
        let Some(user) = accounts.user(session.user_id).cloned() else {
            return Ok(Rotation::Invalid);
        };
        accounts.refresh[index].2 = true;
        accounts.refresh.push((new.clone(), id, false));
        Ok(Rotation::Rotated(Box::new((session, user))))
    }
    async fn list_live(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, RepositoryError> {
        let accounts = self.0.lock().unwrap();
        let mut live: Vec<Session> = accounts
            .sessions
            .iter()
            .filter(|s| s.user_id == user && s.is_live(now))
            .cloned()
            .collect();
        live.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id.as_uuid())));
        Ok(live)
    }
    async fn revoke(
        &self,
        user: UserId,
        id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let mut accounts = self.0.lock().unwrap();
        match accounts
            .sessions
            .iter_mut()
            .find(|s| s.id == id && s.user_id == user && s.is_live(now))
        {
            Some(session) => {
                session.revoked_at = Some(now);
                Ok(true)
            }
            None => Ok(false),
        }
    }
    async fn reauthenticated(
        &self,
        user: UserId,
        id: SessionId,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let mut accounts = self.0.lock().unwrap();
        let session = accounts
            .sessions
            .iter_mut()
            .find(|s| s.id == id && s.user_id == user && s.is_live(at));
        Ok(session.map(|s| s.authenticated_at = at).is_some())
    }
    async fn revoke_all(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> Result<u64, RepositoryError> {
        let mut accounts = self.0.lock().unwrap();
        let mut revoked = 0;
        for session in accounts
            .sessions
            .iter_mut()
            .filter(|s| s.user_id == user && s.revoked_at.is_none() && Some(s.id) != keep)
        {
            session.revoked_at = Some(now);
            revoked += 1;
        }
        Ok(revoked)
    }
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError> {
        let mut accounts = self.0.lock().unwrap();
        let dead: HashSet<SessionId> = accounts
            .sessions
            .iter()
            .filter(|s| {
                s.revoked_at.is_some_and(|at| at < before)
                    || s.idle_expires_at < before
                    || s.absolute_expires_at < before
            })
            .map(|s| s.id)
            .collect();
        accounts.sessions.retain(|s| !dead.contains(&s.id));
        accounts.refresh.retain(|(_, s, _)| !dead.contains(s));
        accounts.cookies.retain(|(_, s)| !dead.contains(s));
        Ok(dead.len() as u64)
    }
    async fn create_browser(
        &self,
        session: &Session,
        cookie: &TokenDigest,
    ) -> Result<(), RepositoryError> {
        let mut accounts = self.0.lock().unwrap();
        accounts.sessions.push(session.clone());
        accounts.cookies.push((cookie.clone(), session.id));
        Ok(())
    }
    async fn find_browser(
        &self,
        cookie: &TokenDigest,
    ) -> Result<Option<(Session, User)>, RepositoryError> {
        let id = {
            let accounts = self.0.lock().unwrap();
            accounts
                .cookies
                .iter()
                .find(|(c, _)| c == cookie)
                .map(|(_, id)| *id)
        };
        match id {
            Some(id) => self.find_with_user(id).await,
            None => Ok(None),
        }
    }
    async fn revoke_client(
        &self,
        client: &ClientId,
        now: DateTime<Utc>,
    ) -> Result<u64, RepositoryError> {
        let mut accounts = self.0.lock().unwrap();
        let mut revoked = 0;
        for session in accounts
            .sessions
            .iter_mut()
            .filter(|s| s.client_id.as_ref() == Some(client) && s.is_live(now))
        {
            session.revoked_at = Some(now);
            revoked += 1;
        }
        Ok(revoked)
    }
}

/// Opaque tokens of the shape the port states ([`is_opaque_token`]): 43 URL-safe
/// characters. The digest is not SHA-256 but tells tokens apart as well.
pub(crate) struct ShapedOpaque;

impl OpaqueTokens for ShapedOpaque {
    fn generate(&self) -> SecretString {
        let raw = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        SecretString::from(raw[..OPAQUE_TOKEN_LEN].to_owned())
    }
    fn digest(&self, token: &SecretString) -> TokenDigest {
        TokenDigest::new(format!("digest:{}", token.expose_secret()))
    }
    fn s256_challenge(&self, verifier: &str) -> String {
        verifier.chars().rev().take(43).collect()
    }
}

/// Single-use tokens with when they were used, atomic under one lock.
#[derive(Default)]
pub(crate) struct InMemoryActionTokens(
    pub(crate) Mutex<Vec<(crate::recovery::ActionToken, Option<DateTime<Utc>>)>>,
);

fn usable(
    (token, used_at): &(crate::recovery::ActionToken, Option<DateTime<Utc>>),
    digest: &TokenDigest,
    purpose: crate::recovery::TokenPurpose,
    now: DateTime<Utc>,
) -> bool {
    &token.digest == digest
        && token.purpose == purpose
        && used_at.is_none()
        && token.expires_at > now
}

#[async_trait]
impl crate::recovery::ActionTokenRepository for InMemoryActionTokens {
    async fn find_usable(
        &self,
        digest: &TokenDigest,
        purpose: crate::recovery::TokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<crate::recovery::ActionToken>, RepositoryError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .find(|row| usable(row, digest, purpose, now))
            .map(|(token, _)| token.clone()))
    }
    async fn consume(
        &self,
        digest: &TokenDigest,
        purpose: crate::recovery::TokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let mut tokens = self.0.lock().unwrap();
        match tokens
            .iter_mut()
            .find(|row| usable(row, digest, purpose, now))
        {
            Some(row) => {
                row.1 = Some(now);
                Ok(true)
            }
            None => Ok(false),
        }
    }
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError> {
        let mut tokens = self.0.lock().unwrap();
        let count = tokens.len();
        tokens.retain(|(token, used_at)| {
            token.expires_at >= before && used_at.is_none_or(|at| at >= before)
        });
        Ok((count - tokens.len()) as u64)
    }
}

/// Seals nothing: keeps each content under a handle, so tests can read what was queued.
#[derive(Default)]
pub(crate) struct PlainSealer(Mutex<HashMap<String, crate::mail::MailContent>>);

impl crate::mail::MailSealer for PlainSealer {
    fn seal(
        &self,
        id: crate::mail::MailId,
        content: &crate::mail::MailContent,
    ) -> crate::mail::SealedMail {
        let mut sealed = self.0.lock().unwrap();
        let handle = format!("{}:{}", id.as_uuid(), sealed.len());
        sealed.insert(handle.clone(), content.clone());
        crate::mail::SealedMail::new(handle)
    }

    fn open(
        &self,
        id: crate::mail::MailId,
        sealed: &crate::mail::SealedMail,
    ) -> Result<crate::mail::MailContent, crate::mail::MailError> {
        if !sealed.as_str().starts_with(&id.as_uuid().to_string()) {
            return Err(crate::mail::MailError("another email's contents".into()));
        }
        self.0
            .lock()
            .unwrap()
            .get(sealed.as_str())
            .cloned()
            .ok_or_else(|| crate::mail::MailError("unknown".into()))
    }
}

/// A mail queue in memory, storing the tokens queued emails carry in `tokens`.
pub(crate) struct InMemoryMailQueue {
    pub(crate) mails: Mutex<Vec<(crate::mail::QueuedMail, Option<crate::mail::ClaimId>)>>,
    pub(crate) tokens: Arc<InMemoryActionTokens>,
}

impl InMemoryMailQueue {
    pub(crate) fn new(tokens: Arc<InMemoryActionTokens>) -> Self {
        Self {
            mails: Mutex::default(),
            tokens,
        }
    }

    fn held(
        &self,
        mail: &crate::mail::ClaimedMail,
        change: impl FnOnce(&mut Vec<(crate::mail::QueuedMail, Option<crate::mail::ClaimId>)>, usize),
    ) -> bool {
        let mut mails = self.mails.lock().unwrap();
        match mails
            .iter()
            .position(|(row, claim)| row.id == mail.id && *claim == Some(mail.claim))
        {
            Some(at) => {
                change(&mut mails, at);
                true
            }
            None => false,
        }
    }
}

#[async_trait]
impl crate::mail::MailQueue for InMemoryMailQueue {
    async fn enqueue(
        &self,
        mail: &crate::mail::QueuedMail,
        token: Option<&crate::mail::ActionToken>,
    ) -> Result<(), RepositoryError> {
        if let Some(token) = token {
            self.tokens.0.lock().unwrap().push((token.clone(), None));
        }
        self.mails.lock().unwrap().push((mail.clone(), None));
        Ok(())
    }
    async fn claim(
        &self,
        claim: crate::mail::ClaimId,
        now: DateTime<Utc>,
        _until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<crate::mail::ClaimedMail>, RepositoryError> {
        let mut mails = self.mails.lock().unwrap();
        Ok(mails
            .iter_mut()
            .filter(|(row, held)| {
                row.status == crate::mail::MailStatus::Pending
                    && row.next_attempt_at <= now
                    && held.is_none()
            })
            .take(limit as usize)
            .map(|(row, held)| {
                *held = Some(claim);
                crate::mail::ClaimedMail {
                    id: row.id,
                    claim,
                    kind: row.kind,
                    sealed: row.sealed.clone(),
                    attempts: row.attempts,
                }
            })
            .collect())
    }
    async fn prepare(
        &self,
        mail: &crate::mail::ClaimedMail,
        user: UserId,
        sealed: &crate::mail::SealedMail,
        token: &crate::mail::ActionToken,
    ) -> Result<bool, RepositoryError> {
        let prepared = self.held(mail, |mails, at| {
            mails[at].0.user_id = Some(user);
            mails[at].0.sealed = sealed.clone();
        });
        if prepared {
            self.tokens.0.lock().unwrap().push((token.clone(), None));
        }
        Ok(prepared)
    }
    async fn delivered(&self, mail: &crate::mail::ClaimedMail) -> Result<(), RepositoryError> {
        self.held(mail, |mails, at| {
            mails.remove(at);
        });
        Ok(())
    }
    async fn failed(
        &self,
        mail: &crate::mail::ClaimedMail,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), RepositoryError> {
        self.held(mail, |mails, at| {
            let (row, held) = &mut mails[at];
            row.attempts += 1;
            row.last_error = Some(error.to_owned());
            match retry_at {
                Some(at) => row.next_attempt_at = at,
                None => row.status = crate::mail::MailStatus::Dead,
            }
            *held = None;
        });
        Ok(())
    }
    async fn list(
        &self,
        status: Option<crate::mail::MailStatus>,
        page: Page,
    ) -> Result<crate::pagination::Paged<crate::mail::QueuedMail>, RepositoryError> {
        let mails: Vec<_> = self
            .mails
            .lock()
            .unwrap()
            .iter()
            .map(|(row, _)| row.clone())
            .filter(|row| status.is_none_or(|status| row.status == status))
            .collect();
        Ok(crate::pagination::Paged {
            total: mails.len() as u64,
            items: mails,
            page,
        })
    }
    async fn retry(
        &self,
        id: crate::mail::MailId,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let mut mails = self.mails.lock().unwrap();
        match mails
            .iter_mut()
            .find(|(row, _)| row.id == id && row.status == crate::mail::MailStatus::Dead)
        {
            Some((row, _)) => {
                row.status = crate::mail::MailStatus::Pending;
                row.attempts = 0;
                row.next_attempt_at = now;
                Ok(true)
            }
            None => Ok(false),
        }
    }
    async fn retry_dead(&self, now: DateTime<Utc>) -> Result<u64, RepositoryError> {
        let dead: Vec<_> = self
            .mails
            .lock()
            .unwrap()
            .iter()
            .filter(|(row, _)| row.status == crate::mail::MailStatus::Dead)
            .map(|(row, _)| row.id)
            .collect();
        for id in &dead {
            self.retry(*id, now).await?;
        }
        Ok(dead.len() as u64)
    }
}

/// Keeps every message it is handed, in order.
#[derive(Default)]
pub(crate) struct RecordingMailer(pub(crate) Mutex<Vec<crate::mail::MailMessage>>);

#[async_trait]
impl crate::mail::Mailer for RecordingMailer {
    async fn send(&self, message: &crate::mail::MailMessage) -> Result<(), crate::mail::MailError> {
        self.0.lock().unwrap().push(message.clone());
        Ok(())
    }
}

/// A clock the test moves.
pub(crate) struct SettableClock(pub(crate) Mutex<DateTime<Utc>>);

impl SettableClock {
    pub(crate) fn new(now: DateTime<Utc>) -> Self {
        Self(Mutex::new(now))
    }
    pub(crate) fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
    pub(crate) fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap() = at;
    }
}

impl Clock for SettableClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// Keeps every audit event, in order (listing is not exercised).
#[derive(Default)]
pub(crate) struct RecordingAudit(pub(crate) Mutex<Vec<AuditEvent>>);

impl RecordingAudit {
    pub(crate) fn kinds(&self) -> Vec<crate::audit::AuditKind> {
        self.0.lock().unwrap().iter().map(|e| e.kind).collect()
    }
}

#[async_trait]
impl AuditLog for RecordingAudit {
    async fn record(&self, event: &AuditEvent) -> Result<(), RepositoryError> {
        self.0.lock().unwrap().push(event.clone());
        Ok(())
    }
    async fn list(
        &self,
        _: &AuditFilter,
        _: Page,
    ) -> Result<(Vec<AuditEvent>, u64), RepositoryError> {
        let events = self.0.lock().unwrap().clone();
        let total = events.len() as u64;
        Ok((events, total))
    }
}

/// A verifier whose every worker is busy: it verifies nothing.
pub(crate) struct OverloadedVerifier;

#[async_trait]
impl PasswordVerifier for OverloadedVerifier {
    async fn verify(
        &self,
        _: HashingTurn,
        _: &SecretString,
        _: &PasswordHash,
    ) -> Result<Verification, HashingError> {
        Err(HashingError::Overloaded {
            retry_after: std::time::Duration::from_secs(1),
        })
    }
}

/// Every client is first-party but the one named `third-party`.
pub(crate) struct AllButThirdParty;

#[async_trait]
impl crate::reauth::ClientTrust for AllButThirdParty {
    async fn is_first_party(&self, client: &ClientId) -> Result<bool, RepositoryError> {
        Ok(client.as_str() != "third-party")
    }
}

/// Registered APIs, in memory.
#[derive(Default)]
pub(crate) struct InMemoryApis(Mutex<Vec<crate::apis::RegisteredApi>>);

#[async_trait]
impl crate::apis::ApiRepository for InMemoryApis {
    async fn insert(
        &self,
        api: &crate::apis::RegisteredApi,
    ) -> Result<(), crate::apis::InsertApiError> {
        let mut apis = self.0.lock().unwrap();
        if apis.iter().any(|a| a.identifier == api.identifier) {
            return Err(crate::apis::InsertApiError::Taken);
        }
        apis.push(api.clone());
        Ok(())
    }
    async fn list(&self) -> Result<Vec<crate::apis::RegisteredApi>, RepositoryError> {
        Ok(self.0.lock().unwrap().clone())
    }
    async fn find(
        &self,
        identifier: &crate::apis::ApiIdentifier,
    ) -> Result<Option<crate::apis::RegisteredApi>, RepositoryError> {
        let apis = self.0.lock().unwrap();
        Ok(apis.iter().find(|a| a.identifier == *identifier).cloned())
    }
    async fn find_by_id(
        &self,
        id: crate::apis::ApiId,
    ) -> Result<Option<crate::apis::RegisteredApi>, RepositoryError> {
        Ok(self.0.lock().unwrap().iter().find(|a| a.id == id).cloned())
    }
    async fn delete(&self, id: crate::apis::ApiId) -> Result<bool, RepositoryError> {
        let mut apis = self.0.lock().unwrap();
        let before = apis.len();
        apis.retain(|a| a.id != id);
        Ok(apis.len() < before)
    }
}
