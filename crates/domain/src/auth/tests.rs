//! Use-case tests over in-memory fakes of the ports.

use std::sync::Mutex;
use std::sync::atomic::Ordering;

use chrono::{TimeZone, Utc};

use super::*;
use crate::email::LoginName;
use crate::password::PasswordHash;
use crate::testing::*;
use crate::throttle::ThrottlePolicy;

struct Harness {
    users: Arc<InMemoryUsers>,
    hasher: Arc<FakeHasher>,
    service: AuthService,
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
            mfa: Arc::new(crate::testing::InMemoryMfa::default()),
            authenticators: Arc::new(crate::testing::FakeAuthenticators),
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
                &LoginName::new("ada@example.com"),
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
            .authenticate(
                &attempt,
                HashingTurn::none(),
                &LoginName::new(username),
                password,
            )
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
