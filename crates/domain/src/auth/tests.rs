//! Use-case tests over in-memory fakes of the ports.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::audit::{AuditEvent, AuditFilter, AuditLog};
use crate::pagination::Page;
use crate::password::PasswordHash;
use crate::ports::AccessToken;
use crate::ports::{AccessClaims, SaveUserError, TokenDigest};
use crate::session::SessionId;
use crate::throttle::ThrottlePolicy;
use crate::throttle::tests::InMemoryCounters;
use crate::user::{UserFilter, UserId};

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
    dummy: PasswordHash,
    hashes: AtomicUsize,
    verifications: AtomicUsize,
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
}

pub(crate) struct FixedClock(pub(crate) DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

struct Harness {
    users: Arc<InMemoryUsers>,
    hasher: Arc<FakeHasher>,
    service: AuthService,
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

fn harness() -> Harness {
    let clock: Arc<dyn Clock> = Arc::new(FixedClock(
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap(),
    ));
    let users = Arc::new(InMemoryUsers::default());
    let hasher = Arc::new(FakeHasher::default());
    let service = AuthService::new(
        AuthPorts {
            users: users.clone(),
            hasher: hasher.clone(),
            verifier: hasher.clone(),
            tokens: Arc::new(FakeTokens),
            sessions: Arc::new(InMemorySessions(
                Mutex::default(),
                users.clone(),
                Mutex::default(),
            )),
            opaque: Arc::new(FakeOpaque),
            clock: clock.clone(),
            throttle: Throttle::new(
                Arc::new(InMemoryCounters::default()),
                clock.clone(),
                ThrottlePolicy::default(),
            ),
            audit: Audit::new(Arc::new(NoAudit), clock),
            mfa: Arc::new(crate::mfa::tests::InMemoryMfa::default()),
            authenticators: Arc::new(crate::mfa::tests::FakeAuthenticators),
        },
        AuthPolicy::default(),
    );
    Harness {
        users,
        hasher,
        service,
    }
}

impl Harness {
    /// Ada's password grant from a client with no address.
    async fn grant(
        &self,
        password: &str,
        scope: Option<&str>,
    ) -> Result<TokenGrant, PasswordGrantError> {
        self.service
            .password_grant(
                "ada@example.com",
                &secret(password),
                scope,
                None,
                Caller::default(),
            )
            .await
    }
}

impl AuthService {
    /// `authenticate` inside a fresh attempt (left counted, as a failure would be).
    async fn authenticate_once(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<User, AuthenticateError> {
        let attempt = self
            .attempts
            .begin(username, None, &Caller::default(), attempts::LOGIN)
            .await
            .expect("under the limit");
        let user = self
            .authenticate(&attempt, HashingTurn::none(), username, password)
            .await?;
        self.admissible(&user)?;
        Ok(user)
    }

    async fn register_user(&self, input: Registration) -> Result<User, RegisterError> {
        self.register(input, &Caller::default()).await
    }
}

/// A harness with Ada registered (password `correct horse battery`).
async fn harness_with_ada() -> Harness {
    let h = harness();
    h.service
        .register_user(registration("ada@example.com", "correct horse battery"))
        .await
        .unwrap();
    h
}

fn registration(email: &str, password: &str) -> Registration {
    Registration {
        email: email.into(),
        password: SecretString::from(password.to_owned()),
        full_name: Some("  Ada  ".into()),
    }
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

#[tokio::test]
async fn register_normalizes_and_stores_a_hash() {
    let h = harness();
    let user = h
        .service
        .register_user(registration(" Ada@Example.com ", "correct horse battery"))
        .await
        .unwrap();
    assert_eq!(user.email.as_str(), "ada@example.com");
    assert_eq!(user.full_name.unwrap().as_str(), "Ada");
    assert_eq!(user.role, Role::User);
    assert_eq!(
        h.users.0.lock().unwrap()[0].password_hash.as_str(),
        "v2:correct horse battery"
    );
}

#[tokio::test]
async fn invalid_registration_reports_every_field_and_never_hashes() {
    let h = harness();
    let error = h
        .service
        .register_user(Registration {
            email: "not-an-email".into(),
            password: secret("short"),
            full_name: Some("x".repeat(300)),
        })
        .await
        .unwrap_err();
    let RegisterError::Invalid(errors) = error else {
        panic!("expected validation errors, got {error:?}");
    };
    let fields: Vec<_> = errors.violations().iter().map(|v| v.field).collect();
    assert_eq!(fields, ["email", "full_name", "password"]);
    assert_eq!(h.hasher.hashes.load(Ordering::SeqCst), 0);
    assert!(h.users.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn duplicate_email_is_taken() {
    let h = harness_with_ada().await;
    let error = h
        .service
        .register_user(registration("ADA@example.com", "another fine secret"))
        .await
        .unwrap_err();
    assert!(matches!(error, RegisterError::EmailTaken));
}

#[tokio::test]
async fn unknown_email_costs_one_verification_like_a_wrong_password() {
    let h = harness_with_ada().await;

    let unknown = h
        .service
        .authenticate_once("bob@example.com", &secret("correct horse battery"))
        .await
        .unwrap_err();
    assert_eq!(h.hasher.verifications.load(Ordering::SeqCst), 1);
    let wrong = h
        .service
        .authenticate_once("ada@example.com", &secret("wrong horse battery"))
        .await
        .unwrap_err();
    assert_eq!(h.hasher.verifications.load(Ordering::SeqCst), 2);
    assert!(matches!(unknown, AuthenticateError::InvalidCredentials));
    assert!(matches!(wrong, AuthenticateError::InvalidCredentials));
}

#[tokio::test]
async fn a_weaker_hash_is_upgraded_only_after_a_successful_login() {
    let h = harness();
    let user = h
        .service
        .register_user(registration("ada@example.com", "correct horse battery"))
        .await
        .unwrap();
    h.users.0.lock().unwrap()[0].password_hash = PasswordHash::new("v1:correct horse battery");

    h.service
        .authenticate_once("ada@example.com", &secret("wrong"))
        .await
        .unwrap_err();
    assert_eq!(
        h.users.0.lock().unwrap()[0].password_hash.as_str(),
        "v1:correct horse battery"
    );

    let logged_in = h
        .service
        .authenticate_once("ada@example.com", &secret("correct horse battery"))
        .await
        .unwrap();
    assert_eq!(logged_in.id, user.id);
    assert_eq!(
        h.users.0.lock().unwrap()[0].password_hash.as_str(),
        "v2:correct horse battery"
    );
}

#[tokio::test]
async fn a_disabled_account_is_refused_only_with_the_right_password() {
    let h = harness_with_ada().await;
    h.users.0.lock().unwrap()[0].is_active = false;
    let wrong = h
        .service
        .authenticate_once("ada@example.com", &secret("wrong horse battery"))
        .await
        .unwrap_err();
    assert!(matches!(wrong, AuthenticateError::InvalidCredentials));
    let right = h
        .service
        .authenticate_once("ada@example.com", &secret("correct horse battery"))
        .await
        .unwrap_err();
    assert!(matches!(right, AuthenticateError::AccountDisabled));
}

#[tokio::test]
async fn password_grant_refuses_admin_scopes_to_users() {
    let h = harness_with_ada().await;
    let error = h
        .grant("correct horse battery", Some("me users:read"))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        PasswordGrantError::Scope(ScopeError::NotAllowed(_))
    ));
    let token = h.grant("correct horse battery", None).await.unwrap();
    assert_eq!(token.access.claims.scopes, ScopeSet::all_for(Role::User));
}

#[tokio::test]
async fn unknown_scope_names_are_refused_before_hashing() {
    let h = harness();
    let error = h.grant("whatever123", Some("root")).await.unwrap_err();
    assert!(matches!(
        error,
        PasswordGrantError::Scope(ScopeError::Unknown(_))
    ));
    assert_eq!(h.hasher.verifications.load(Ordering::SeqCst), 0);
}

/// A harness with Ada registered and logged in.
async fn registered_and_logged_in() -> (Harness, TokenGrant) {
    let h = harness_with_ada().await;
    let grant = h.grant("correct horse battery", None).await.unwrap();
    (h, grant)
}

#[tokio::test]
async fn a_token_resolves_only_while_its_user_and_session_live() {
    let (h, grant) = registered_and_logged_in().await;
    let token = grant.access.token.expose_secret().to_owned();
    let (current, claims) = h.service.resolve_current_user(&token).await.unwrap();
    assert_eq!(current.email.as_str(), "ada@example.com");

    h.service.logout(&claims, &Caller::default()).await.unwrap();
    let error = h.service.resolve_current_user(&token).await.unwrap_err();
    assert!(matches!(error, CurrentUserError::InvalidToken(_)));
}

#[tokio::test]
async fn a_deleted_users_token_resolves_to_nobody() {
    let (h, grant) = registered_and_logged_in().await;
    h.users.0.lock().unwrap().clear();
    let error = h
        .service
        .resolve_current_user(grant.access.token.expose_secret())
        .await
        .unwrap_err();
    assert!(matches!(error, CurrentUserError::InvalidToken(_)));
}

#[tokio::test]
async fn an_overlong_password_is_refused_without_hashing() {
    let h = harness();
    let error = h
        .service
        .register_user(registration("ada@example.com", &"x".repeat(10_000)))
        .await
        .unwrap_err();
    assert!(matches!(error, RegisterError::Invalid(_)));
    let error = h
        .service
        .authenticate_once("ada@example.com", &secret(&"x".repeat(10_000)))
        .await
        .unwrap_err();
    assert!(matches!(error, AuthenticateError::InvalidCredentials));
    assert_eq!(h.hasher.hashes.load(Ordering::SeqCst), 0);
    assert_eq!(h.hasher.verifications.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn password_attempts_past_the_limit_verify_nothing() {
    let h = harness_with_ada().await;
    for _ in 0..5 {
        assert!(matches!(
            h.grant("wrong horse battery", None).await,
            Err(PasswordGrantError::Authenticate(
                AuthenticateError::InvalidCredentials
            ))
        ));
    }
    let verified = h.hasher.verifications.load(Ordering::SeqCst);
    assert!(matches!(
        h.grant("correct horse battery", None).await,
        Err(PasswordGrantError::Throttled { .. })
    ));
    assert_eq!(h.hasher.verifications.load(Ordering::SeqCst), verified);
}

#[tokio::test]
async fn a_right_password_with_a_forbidden_scope_still_counts_as_a_failure() {
    let h = harness_with_ada().await;
    for _ in 0..5 {
        let refused = h.grant("correct horse battery", Some("users:read")).await;
        assert!(matches!(refused, Err(PasswordGrantError::Scope(_))));
    }
    let throttled = h.grant("correct horse battery", None).await;
    assert!(matches!(
        throttled,
        Err(PasswordGrantError::Throttled { .. })
    ));
}
