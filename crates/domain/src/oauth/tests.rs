//! The authorization code flow's rules over in-memory fakes of the ports (the black-box
//! tests run the same rules through HTTP and real storage).

use std::sync::{Arc, Mutex};

use chrono::{TimeZone, Utc};
use secrecy::SecretString;

use super::*;
use crate::audit::Audit;
use crate::clock::Clock;
use crate::email::Email;
use crate::password::PasswordHash;
use crate::ports::{SessionRepository, TokenDigest, UserRepository};
use crate::session::{Caller, Session, SessionLifetimes};
use crate::testing::*;
use crate::user::{Role, User};

const CALLBACK: &str = "https://app.example.com/cb";
/// A verifier of letters only, so that the fake `S256` gives a challenge of the right shape.
const VERIFIER: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

struct Flow {
    service: OAuthService,
    sessions: Arc<InMemorySessions>,
    user: User,
    browser: Session,
}

async fn flow() -> Flow {
    let clock: Arc<dyn Clock> = Arc::new(FixedClock(
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap(),
    ));
    let users = Arc::new(InMemoryUsers::default());
    let user = User::new(
        Email::parse("ada@example.com").unwrap(),
        None,
        Role::User,
        PasswordHash::new("v1:x"),
        clock.now(),
    );
    users.insert(&user).await.unwrap();
    let sessions = Arc::new(InMemorySessions(
        Mutex::default(),
        users.clone(),
        Mutex::default(),
    ));
    let browser = Session::start(
        &user,
        crate::scope::ScopeSet::default(),
        Caller::default(),
        SessionLifetimes::default(),
        clock.now(),
    )
    .in_browser();
    sessions
        .create_browser(&browser, &TokenDigest::new("cookie"))
        .await
        .unwrap();
    let service = OAuthService::new(
        OAuthPorts {
            clients: Arc::new(InMemoryClients::default()),
            apis: Arc::new(crate::testing::InMemoryApis::default()),
            codes: Arc::new(InMemoryCodes::default()),
            users,
            sessions: sessions.clone(),
            tokens: Arc::new(FakeTokens),
            id_tokens: Arc::new(FakeIdTokens),
            opaque: Arc::new(FakeOpaque),
            clock: clock.clone(),
            throttle: crate::throttle::Throttle::new(
                Arc::new(crate::testing::InMemoryCounters::default()),
                clock.clone(),
                crate::throttle::ThrottlePolicy::default(),
            ),
            audit: Audit::new(Arc::new(NoAudit), clock),
        },
        OAuthPolicy {
            issuer: "https://id.example.com".into(),
            sessions: SessionLifetimes::default(),
            built_in: Vec::new(),
            mfa: crate::mfa::MfaPolicy::default(),
            audience: "gatehouse".into(),
        },
    );
    for (id, public) in [("spa", true), ("other", true)] {
        service
            .register_client(NewClient {
                id: id.into(),
                name: id.into(),
                public,
                redirect_uris: vec![CALLBACK.into()],
                post_logout_redirect_uris: Vec::new(),
                first_party: true,
                ..NewClient::default()
            })
            .await
            .unwrap();
    }
    Flow {
        service,
        sessions,
        user,
        browser,
    }
}

fn params(pairs: &[(&str, &str)]) -> AuthorizeParams {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    };
    AuthorizeParams {
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        response_type: get("response_type"),
        scope: get("scope"),
        state: get("state"),
        code_challenge: get("code_challenge"),
        code_challenge_method: get("code_challenge_method"),
        nonce: get("nonce"),
        prompt: get("prompt"),
        max_age: get("max_age"),
        login_hint: get("login_hint"),
        id_token_hint: get("id_token_hint"),
        request: get("request"),
        request_uri: get("request_uri"),
        registration: get("registration"),
        resources: get("resource").into_iter().collect(),
        repeated: get("repeated"),
    }
}

fn challenge() -> String {
    FakeOpaque.s256_challenge(VERIFIER)
}

use crate::ports::OpaqueTokens as _;

async fn good_request(flow: &Flow) -> AuthorizeRequest {
    let challenge = challenge();
    flow.service
        .authorize(params(&[
            ("client_id", "spa"),
            ("redirect_uri", CALLBACK),
            ("response_type", "code"),
            ("scope", "openid me"),
            ("state", "s"),
            ("nonce", "n"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]))
        .await
        .unwrap()
}

fn code_of(location: &str) -> SecretString {
    let query = location.split_once('?').unwrap().1;
    let code = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("code="))
        .unwrap();
    SecretString::from(code.to_owned())
}

fn exchange(code: SecretString, client: &str, verifier: &str) -> CodeExchange {
    CodeExchange {
        code,
        redirect_uri: Some(CALLBACK.into()),
        code_verifier: Some(SecretString::from(verifier.to_owned())),
        client: ClientCredentials {
            id: Some(client.into()),
            secret: None,
        },
        resources: Vec::new(),
    }
}

#[tokio::test]
async fn nothing_is_redirected_until_client_and_redirect_uri_are_known_good() {
    let flow = flow().await;
    for bad in [
        params(&[("redirect_uri", CALLBACK), ("response_type", "token")]),
        params(&[("client_id", "nobody"), ("redirect_uri", CALLBACK)]),
        params(&[
            ("client_id", "spa"),
            ("redirect_uri", "https://evil.test/cb"),
        ]),
        params(&[("client_id", "spa"), ("response_type", "token")]),
        params(&[
            ("client_id", "spa"),
            ("redirect_uri", CALLBACK),
            ("repeated", "redirect_uri"),
        ]),
    ] {
        let refused = flow.service.authorize(bad).await.unwrap_err();
        assert!(
            matches!(refused, AuthorizeError::Unredirectable(_)),
            "{refused:?}"
        );
    }
    // Once both hold, errors go back to the client with its state and our issuer.
    let refused = flow
        .service
        .authorize(params(&[
            ("client_id", "spa"),
            ("redirect_uri", CALLBACK),
            ("response_type", "token"),
            ("state", "xyz"),
        ]))
        .await
        .unwrap_err();
    let AuthorizeError::Redirect {
        location, error, ..
    } = refused
    else {
        panic!("a redirect");
    };
    assert_eq!(error, ErrorCode::UnsupportedResponseType);
    assert!(location.starts_with(CALLBACK), "{location}");
    assert!(location.contains("state=xyz"), "{location}");
    assert!(
        location.contains("iss=https%3A%2F%2Fid.example.com"),
        "{location}"
    );
}

#[tokio::test]
async fn public_clients_must_send_an_s256_challenge() {
    let flow = flow().await;
    let base = [
        ("client_id", "spa"),
        ("redirect_uri", CALLBACK),
        ("response_type", "code"),
    ];
    let challenge = challenge();
    for extra in [
        vec![],
        vec![("code_challenge", challenge.as_str())],
        vec![
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "plain"),
        ],
        vec![
            ("code_challenge", "short"),
            ("code_challenge_method", "S256"),
        ],
    ] {
        let all: Vec<(&str, &str)> = base.iter().copied().chain(extra).collect();
        let refused = flow.service.authorize(params(&all)).await.unwrap_err();
        assert!(
            matches!(
                refused,
                AuthorizeError::Redirect {
                    error: ErrorCode::InvalidRequest,
                    ..
                }
            ),
            "{all:?}: {refused:?}"
        );
    }
}

#[tokio::test]
async fn a_code_is_exchanged_once_for_its_client_and_verifier_and_a_replay_ends_the_session() {
    let flow = flow().await;
    let request = good_request(&flow).await;
    let location = flow
        .service
        .issue_code(&request, &flow.browser, &flow.user)
        .await
        .unwrap();
    assert!(
        location.contains("state=s") && location.contains("iss="),
        "{location}"
    );
    let code = code_of(&location);

    let grant = flow
        .service
        .exchange_code(exchange(code.clone(), "spa", VERIFIER), Caller::default())
        .await
        .unwrap();
    assert_eq!(
        secrecy::ExposeSecret::expose_secret(&grant.id_token.unwrap()),
        "id:spa:n",
        "an ID token for the client, with the nonce"
    );
    let crate::ports::GrantedAccess::Own(access) = &grant.tokens.access else {
        panic!("a token for gatehouse's own API");
    };
    let session = access.claims.session_id;
    assert!(
        flow.sessions
            .find(session)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );

    let replay = flow
        .service
        .exchange_code(exchange(code, "spa", VERIFIER), Caller::default())
        .await;
    assert!(matches!(replay, Err(ExchangeError::InvalidGrant(_))));
    assert!(
        flow.sessions
            .find(session)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some(),
        "the replay revoked the session the code opened"
    );
}

#[tokio::test]
async fn a_wrong_verifier_client_or_redirect_uri_spends_the_code_for_nothing() {
    let flow = flow().await;
    let request = good_request(&flow).await;
    let other_verifier = "zyxwvutsrqponmlkjihgfedcbaZYXWVUTSRQPONMLKJIHGFEDCBA";
    let cases: Vec<Box<dyn Fn(SecretString) -> CodeExchange>> = vec![
        Box::new(|code| exchange(code, "spa", other_verifier)),
        Box::new(|code| exchange(code, "other", VERIFIER)),
        Box::new(|code| CodeExchange {
            redirect_uri: Some("https://app.example.com/other".into()),
            ..exchange(code, "spa", VERIFIER)
        }),
        Box::new(|code| CodeExchange {
            code_verifier: None,
            ..exchange(code, "spa", VERIFIER)
        }),
    ];
    for (i, case) in cases.iter().enumerate() {
        let location = flow
            .service
            .issue_code(&request, &flow.browser, &flow.user)
            .await
            .unwrap();
        let code = code_of(&location);
        let refused = flow
            .service
            .exchange_code(case(code.clone()), Caller::default())
            .await;
        assert!(
            matches!(refused, Err(ExchangeError::InvalidGrant(_))),
            "case {i}"
        );
        let after = flow
            .service
            .exchange_code(exchange(code, "spa", VERIFIER), Caller::default())
            .await;
        assert!(
            matches!(after, Err(ExchangeError::InvalidGrant(_))),
            "case {i}: spent"
        );
    }
    // An unknown client is refused before the code is touched.
    let location = flow
        .service
        .issue_code(&request, &flow.browser, &flow.user)
        .await
        .unwrap();
    let code = code_of(&location);
    let unknown = flow
        .service
        .exchange_code(
            exchange(code.clone(), "nobody", VERIFIER),
            Caller::default(),
        )
        .await;
    assert!(matches!(unknown, Err(ExchangeError::InvalidClient)));
    assert!(
        flow.service
            .exchange_code(exchange(code, "spa", VERIFIER), Caller::default())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_scope_the_role_may_not_hold_goes_back_as_invalid_scope() {
    let flow = flow().await;
    let challenge = challenge();
    let request = flow
        .service
        .authorize(params(&[
            ("client_id", "spa"),
            ("redirect_uri", CALLBACK),
            ("response_type", "code"),
            ("scope", "users:write"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]))
        .await
        .unwrap();
    let refused = flow
        .service
        .issue_code(&request, &flow.browser, &flow.user)
        .await
        .unwrap_err();
    assert!(matches!(
        refused,
        AuthorizeError::Redirect {
            error: ErrorCode::InvalidScope,
            ..
        }
    ));
}
