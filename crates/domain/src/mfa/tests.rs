//! MFA use cases over in-memory fakes: enrolment, replay, recovery codes and the second
//! step of the password grant.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use secrecy::SecretString;

use super::*;
use crate::AuthService;
use crate::audit::Audit;
use crate::auth::{AuthPolicy, AuthPorts, MfaGrantError, PasswordGrantError, Registration};
use crate::clock::Clock;
use crate::email::{Email, LoginName};
use crate::error::RepositoryError;
use crate::oauth::ClientId;
use crate::ports::{SessionRepository, TokenDigest};
use crate::reauth::ReauthRefusal;
use crate::session::Caller;
use crate::session::{Session, SessionId};
use crate::testing::*;

use crate::throttle::{Throttle, ThrottlePolicy};
use crate::user::User;

struct Harness {
    now: DateTime<Utc>,
    auth: AuthService,
    mfa: MfaService,
    ada: User,
    /// A session of Ada's, opened by a first-party sign-in at `now`.
    session: SessionId,
    sessions: Arc<InMemorySessions>,
    users: Arc<InMemoryUsers>,
}

/// Every client is first-party but `third-party`.
struct OneThirdParty;

#[async_trait]
impl crate::reauth::ClientTrust for OneThirdParty {
    async fn is_first_party(&self, client: &ClientId) -> Result<bool, RepositoryError> {
        Ok(client.as_str() != "third-party")
    }
}

async fn harness() -> Harness {
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 10).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(FixedClock(now));
    let users = Arc::new(InMemoryUsers::default());
    let hasher = Arc::new(FakeHasher::default());
    let repository = Arc::new(InMemoryMfa::default());
    let throttle = Throttle::new(
        Arc::new(InMemoryCounters::default()),
        clock.clone(),
        ThrottlePolicy::default(),
    );
    let audit = Audit::new(Arc::new(NoAudit), clock.clone());
    let sessions = Arc::new(InMemorySessions(
        Mutex::default(),
        users.clone(),
        Mutex::default(),
    ));
    let auth = AuthService::new(
        AuthPorts {
            users: users.clone(),
            hasher: hasher.clone(),
            verifier: hasher.clone(),
            tokens: Arc::new(FakeTokens),
            sessions: sessions.clone(),
            opaque: Arc::new(FakeOpaque),
            clock: clock.clone(),
            throttle: throttle.clone(),
            audit: audit.clone(),
            mfa: repository.clone(),
            authenticators: Arc::new(FakeAuthenticators),
        },
        AuthPolicy::default(),
    );
    let mfa = MfaService::new(MfaPorts {
        repository,
        authenticators: Arc::new(FakeAuthenticators),
        users: users.clone(),
        sessions: sessions.clone(),
        verifier: hasher,
        clock,
        throttle,
        audit,
        clients: Arc::new(OneThirdParty),
        reauthentication: crate::reauth::DEFAULT_WINDOW,
    });
    let ada = auth
        .register(
            Registration {
                email: "ada@example.com".into(),
                password: SecretString::from("correct horse battery"),
                full_name: None,
            },
            &Caller::default(),
        )
        .await
        .unwrap();
    let session = Session::start(
        &ada,
        crate::ScopeSet::default(),
        Caller::default(),
        crate::SessionLifetimes::default(),
        now,
    );
    sessions
        .create(&session, &TokenDigest::new("x".repeat(64)))
        .await
        .unwrap();
    Harness {
        now,
        auth,
        mfa,
        ada,
        session: session.id,
        sessions,
        users,
    }
}

const PASSWORD: &str = "correct horse battery";

impl Harness {
    /// Enrols Ada with the previous step's code; returns her recovery codes.
    async fn enrol(&self) -> Vec<SecretString> {
        self.start().await.unwrap();
        self.mfa
            .confirm(
                &self.ada,
                self.session,
                &code_at(self.now, -1),
                &Caller::default(),
            )
            .await
            .unwrap()
    }

    async fn start(&self) -> Result<Enrolment, MfaError> {
        self.mfa
            .start(
                &self.ada,
                self.session,
                Some(&SecretString::from(PASSWORD)),
                &Caller::default(),
            )
            .await
    }

    async fn password_step(&self, client_id: Option<&str>) -> SecretString {
        let client = client_id.map(|id| ClientId::parse(id).unwrap());
        match self
            .auth
            .password_grant(
                &LoginName::new("ada@example.com"),
                &SecretString::from("correct horse battery"),
                None,
                client.as_ref(),
                Caller::default(),
            )
            .await
        {
            Err(PasswordGrantError::MfaRequired { mfa_token }) => mfa_token,
            other => panic!("expected mfa_required, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn enrolment_is_active_only_after_a_valid_code() {
    let h = harness().await;
    h.start().await.unwrap();
    assert!(!h.mfa.status(h.ada.id).await.unwrap().enabled);
    // A pending enrolment signs nobody in with a second factor.
    assert!(
        h.auth
            .password_grant(
                &LoginName::new("ada@example.com"),
                &SecretString::from("correct horse battery"),
                None,
                None,
                Caller::default(),
            )
            .await
            .is_ok()
    );
    let wrong = h
        .mfa
        .confirm(&h.ada, h.session, &code_at(h.now, 2), &Caller::default())
        .await;
    assert!(matches!(wrong, Err(MfaError::InvalidCode)), "{wrong:?}");
    assert!(!h.mfa.status(h.ada.id).await.unwrap().enabled);

    let codes = h
        .mfa
        .confirm(&h.ada, h.session, &code_at(h.now, 0), &Caller::default())
        .await
        .unwrap();
    assert_eq!(codes.len(), RECOVERY_CODES);
    let status = h.mfa.status(h.ada.id).await.unwrap();
    assert!(status.enabled);
    assert_eq!(status.recovery_codes_left, RECOVERY_CODES as u32);
    assert!(matches!(h.start().await, Err(MfaError::AlreadyEnabled)));
}

#[tokio::test]
async fn the_password_grant_needs_a_second_step_and_its_token_is_spent_once() {
    let h = harness().await;
    h.enrol().await;
    let token = h.password_step(Some("cli")).await;

    // Another client, or no factor, completes nothing.
    let other = h
        .auth
        .mfa_grant(
            &token,
            Some(Factor::Otp(code_at(h.now, 0))),
            None,
            Caller::default(),
        )
        .await;
    assert!(
        matches!(other, Err(MfaGrantError::InvalidToken)),
        "{other:?}"
    );
    let none = h
        .auth
        .mfa_grant(&token, None, Some(&cli()), Caller::default())
        .await;
    assert!(
        matches!(none, Err(MfaGrantError::MissingFactor)),
        "{none:?}"
    );
    // The enrolment's code was used up by the enrolment.
    let replayed = h
        .auth
        .mfa_grant(
            &token,
            Some(Factor::Otp(code_at(h.now, -1))),
            Some(&cli()),
            Caller::default(),
        )
        .await;
    assert!(
        matches!(replayed, Err(MfaGrantError::InvalidCode)),
        "{replayed:?}"
    );

    let grant = h
        .auth
        .mfa_grant(
            &token,
            Some(Factor::Otp(code_at(h.now, 0))),
            Some(&cli()),
            Caller::default(),
        )
        .await
        .unwrap();
    assert_eq!(grant.access.claims.amr, Amr::PasswordOtp);
    let again = h
        .auth
        .mfa_grant(
            &token,
            Some(Factor::Otp(code_at(h.now, 1))),
            Some(&cli()),
            Caller::default(),
        )
        .await;
    assert!(
        matches!(again, Err(MfaGrantError::InvalidToken)),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_code_is_taken_once_and_each_recovery_code_once() {
    let h = harness().await;
    let codes = h.enrol().await;
    let first = h.password_step(None).await;
    h.auth
        .mfa_grant(
            &first,
            Some(Factor::Otp(code_at(h.now, 0))),
            None,
            Caller::default(),
        )
        .await
        .unwrap();
    let second = h.password_step(None).await;
    let reused = h
        .auth
        .mfa_grant(
            &second,
            Some(Factor::Otp(code_at(h.now, 0))),
            None,
            Caller::default(),
        )
        .await;
    assert!(
        matches!(reused, Err(MfaGrantError::InvalidCode)),
        "{reused:?}"
    );

    let recovery = || Some(Factor::RecoveryCode(codes[3].clone()));
    h.auth
        .mfa_grant(&second, recovery(), None, Caller::default())
        .await
        .unwrap();
    let third = h.password_step(None).await;
    let spent = h
        .auth
        .mfa_grant(&third, recovery(), None, Caller::default())
        .await;
    assert!(
        matches!(spent, Err(MfaGrantError::InvalidCode)),
        "{spent:?}"
    );
    assert_eq!(
        h.mfa.status(h.ada.id).await.unwrap().recovery_codes_left,
        RECOVERY_CODES as u32 - 1
    );
}

#[tokio::test]
async fn disabling_needs_the_password_and_a_code() {
    let h = harness().await;
    h.enrol().await;
    let client = Caller::default();
    let wrong_password = h
        .mfa
        .disable(
            &h.ada,
            h.session,
            Some(&SecretString::from("wrong password!")),
            Some(Factor::Otp(code_at(h.now, 0))),
            &client,
        )
        .await;
    assert!(
        matches!(wrong_password, Err(MfaError::WrongPassword)),
        "{wrong_password:?}"
    );
    let password = SecretString::from("correct horse battery");
    let no_code = h
        .mfa
        .disable(&h.ada, h.session, Some(&password), None, &client)
        .await;
    assert!(matches!(no_code, Err(MfaError::Invalid(_))), "{no_code:?}");
    let wrong_code = h
        .mfa
        .disable(
            &h.ada,
            h.session,
            Some(&password),
            Some(Factor::Otp("000000".into())),
            &client,
        )
        .await;
    assert!(
        matches!(wrong_code, Err(MfaError::InvalidCode)),
        "{wrong_code:?}"
    );
    assert!(h.mfa.status(h.ada.id).await.unwrap().enabled);

    h.mfa
        .disable(
            &h.ada,
            h.session,
            Some(&password),
            Some(Factor::Otp(code_at(h.now, 0))),
            &client,
        )
        .await
        .unwrap();
    assert!(!h.mfa.status(h.ada.id).await.unwrap().enabled);
}

impl Harness {
    /// A session of `user`'s, opened for `client` (a code flow's) or by a first-party
    /// sign-in, whose person signed in `ago` before now.
    async fn session_of(
        &self,
        user: &User,
        client: Option<&str>,
        ago: chrono::Duration,
    ) -> SessionId {
        let mut session = Session::start(
            user,
            crate::ScopeSet::default(),
            Caller::default(),
            crate::SessionLifetimes::default(),
            self.now,
        )
        .authenticated_at(self.now - ago);
        if let Some(client) = client {
            session = session.for_client(SessionId::generate(), ClientId::parse(client).unwrap());
        }
        self.sessions
            .create(&session, &TokenDigest::new("y".repeat(64)))
            .await
            .unwrap();
        session.id
    }
}

#[tokio::test]
async fn a_third_party_apps_session_never_reaches_the_password_check() {
    let h = harness().await;
    let third = h
        .session_of(&h.ada, Some("third-party"), chrono::Duration::zero())
        .await;
    let password = SecretString::from(PASSWORD);
    let refused = h
        .mfa
        .start(&h.ada, third, Some(&password), &Caller::default())
        .await;
    assert!(
        matches!(
            refused,
            Err(MfaError::NotReauthenticated(ReauthRefusal::ThirdParty))
        ),
        "{refused:?}"
    );
    // A first-party app's session of the same account may, with the password.
    let first = h
        .session_of(&h.ada, Some("first-party"), chrono::Duration::hours(5))
        .await;
    assert!(
        h.mfa
            .start(&h.ada, first, Some(&password), &Caller::default())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn an_account_without_a_password_reauthenticates_by_a_recent_sign_in() {
    let h = harness().await;
    let mut grace = User::new(
        Email::parse("grace@example.com").unwrap(),
        None,
        crate::user::Role::User,
        crate::password::PasswordHash::none(),
        h.now,
    );
    grace.is_verified = true;
    assert!(!grace.has_password());
    h.users.0.lock().unwrap().push(grace.clone());
    let stale = h
        .session_of(&grace, None, chrono::Duration::minutes(6))
        .await;
    let refused = h.mfa.start(&grace, stale, None, &Caller::default()).await;
    assert!(
        matches!(
            refused,
            Err(MfaError::NotReauthenticated(ReauthRefusal::Stale))
        ),
        "{refused:?}"
    );
    // A password, whatever it is, does not stand in for the sign-in it does not have.
    let refused = h
        .mfa
        .start(
            &grace,
            stale,
            Some(&SecretString::from(PASSWORD)),
            &Caller::default(),
        )
        .await;
    assert!(
        matches!(refused, Err(MfaError::NotReauthenticated(_))),
        "{refused:?}"
    );
    let recent = h
        .session_of(&grace, None, chrono::Duration::minutes(4))
        .await;
    assert!(
        h.mfa
            .start(&grace, recent, None, &Caller::default())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_right_password_on_a_confirmation_never_resets_the_code_guesses() {
    let h = harness().await;
    h.enrol().await;
    let password = SecretString::from(PASSWORD);
    let mut answers = Vec::new();
    for _ in 0..8 {
        answers.push(
            h.mfa
                .disable(
                    &h.ada,
                    h.session,
                    Some(&password),
                    Some(Factor::Otp("000000".into())),
                    &Caller::default(),
                )
                .await,
        );
    }
    let wrong = answers
        .iter()
        .filter(|a| matches!(a, Err(MfaError::InvalidCode)))
        .count();
    assert_eq!(wrong, 5, "{answers:?}");
    assert!(
        matches!(answers.last(), Some(Err(MfaError::Throttled { .. }))),
        "{answers:?}"
    );
}

#[test]
fn admins_hold_admin_scopes_only_with_a_second_factor_when_the_policy_says_so() {
    use crate::user::Role;
    let strict = MfaPolicy {
        required_for_admins: true,
    };
    assert_eq!(strict.scope_role(Role::Admin, Amr::Password), Role::User);
    assert_eq!(
        strict.scope_role(Role::Admin, Amr::PasswordOtp),
        Role::Admin
    );
    assert_eq!(
        MfaPolicy::default().scope_role(Role::Admin, Amr::Password),
        Role::Admin
    );
    assert!(strict.must_enrol(Role::Admin, false));
    assert!(!strict.must_enrol(Role::User, false));
    assert_eq!(Amr::parse("pwd otp"), Amr::PasswordOtp);
    assert_eq!(Amr::PasswordOtp.methods(), ["pwd", "otp"]);
}

fn cli() -> ClientId {
    ClientId::parse("cli").unwrap()
}
