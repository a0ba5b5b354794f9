//! The security rules under concurrency (SPEC §6): each test races its rule through HTTP —
//! bursts sent at once, logins interleaved with a password change — on SQLite, and on
//! PostgreSQL when `TEST_DATABASE_URL` is set.

use std::collections::HashMap;

use futures::future::join_all;
use gatehouse_tests::{
    PASSWORD, TestApp, confirm_reset, no_reuse_leeway, reset_link, wait_for_mail,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const WRONG: &str = "wrong horse battery staple";
const NEW_PASSWORD: &str = "a brand new passphrase";

/// How many responses had each status.
async fn statuses(responses: Vec<reqwest::Response>) -> HashMap<u16, usize> {
    let mut counts = HashMap::new();
    for response in responses {
        *counts.entry(response.status().as_u16()).or_default() += 1;
    }
    counts
}

/// `count` requests built by `request`, all sent at once.
async fn burst<F, Fut>(count: usize, request: F) -> Vec<reqwest::Response>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = reqwest::Response>,
{
    join_all((0..count).map(request)).await
}

#[tokio::test]
async fn a_burst_of_forty_guesses_verifies_at_most_five_passwords() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    // The right password hides among 39 wrong ones, all in flight at once.
    let responses = burst(40, |i| {
        let password = if i == 20 { PASSWORD } else { WRONG };
        app.login_response("ada@example.com", password)
    })
    .await;
    let counts = statuses(responses).await;
    let verified = 40 - counts.get(&429).copied().unwrap_or(0);
    assert!(verified <= 5, "{verified} passwords verified: {counts:?}");
    assert!(app.audited("login_failed").await <= 5);
    // The account stays locked for the right password too.
    let after = app.login_response("ada@example.com", PASSWORD).await;
    assert!(
        after.status() == StatusCode::TOO_MANY_REQUESTS || counts.contains_key(&200),
        "a 200 after the limit: {}",
        after.status()
    );
}

#[tokio::test]
async fn a_burst_across_accounts_from_one_network_verifies_at_most_the_ip_limit() {
    let app = TestApp::builder().spawn().await;
    let app = &app;
    let responses = burst(40, |i| async move {
        app.login_response(&format!("guess{i}@example.com"), WRONG)
            .await
    })
    .await;
    let counts = statuses(responses).await;
    assert_eq!(counts.get(&400), Some(&20), "{counts:?}");
    assert_eq!(counts.get(&429), Some(&20), "{counts:?}");
}

#[tokio::test]
async fn ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
    let app = TestApp::builder()
        .settings(|s| {
            s.server.trusted_proxies = vec!["127.0.0.1".into()];
            s.auth.login_failures_per_ip = 4;
        })
        .spawn()
        .await;
    let guess = |i: usize, from: String| {
        let email = format!("guess{i}@example.com");
        let request = app.client.post(app.url("/api/v1/auth/token")).form(&[
            ("grant_type", "password"),
            ("username", email.as_str()),
            ("password", WRONG),
        ]);
        request.header("x-forwarded-for", from).send()
    };
    // Eight addresses of one /64 at once: one budget of four.
    let responses = join_all((0..8).map(|i| guess(i, format!("2001:db8:aa:bb:{i:x}:1:2:3")))).await;
    let counts = statuses(responses.into_iter().map(Result::unwrap).collect()).await;
    assert_eq!(counts.get(&400), Some(&4), "{counts:?}");
    // Another /64 has its own.
    let other = guess(100, "2001:db8:aa:bc::1".into()).await.unwrap();
    assert_eq!(other.status(), StatusCode::BAD_REQUEST);
    // An IPv4 client is the same client whether it arrives mapped or not.
    let responses = join_all((0..8).map(|i| {
        let from = if i % 2 == 0 {
            "203.0.113.7"
        } else {
            "::ffff:203.0.113.7"
        };
        guess(200 + i, from.into())
    }))
    .await;
    let counts = statuses(responses.into_iter().map(Result::unwrap).collect()).await;
    assert_eq!(counts.get(&400), Some(&4), "{counts:?}");
}

#[tokio::test]
async fn a_right_password_with_a_forbidden_scope_counts_as_a_failure() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let responses = burst(10, |_| {
        app.login_with_scope("ada@example.com", "users:read")
    })
    .await;
    let counts = statuses(responses).await;
    assert_eq!(counts.get(&400), Some(&5), "{counts:?}");
    assert_eq!(counts.get(&429), Some(&5), "{counts:?}");
    assert_eq!(app.audited("login_failed").await, 5);
    let after = app.login_response("ada@example.com", PASSWORD).await;
    assert_eq!(after.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn logins_racing_a_deactivation_leave_no_session_for_its_reactivation() {
    let app = TestApp::builder()
        .settings(|s| {
            s.auth.login_failures_per_account = 1000;
            s.auth.login_failures_per_ip = 1000;
        })
        .spawn()
        .await;
    let root = app.admin_token("root@example.com").await;
    app.register_ok("ada@example.com").await;
    let ada: Value = app
        .bearer_get("/api/v1/users/me", &app.login("ada@example.com").await)
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/v1/users/{}", ada["id"].as_str().unwrap());
    let set_active = |active: bool| {
        let (app, root, path) = (&app, &root, &path);
        async move {
            app.bearer_send(
                Method::PATCH,
                path,
                root,
                Some(&json!({"is_active": active})),
            )
            .await
            .status()
        }
    };

    // Six clients log in over and over while an admin deactivates the account.
    let done = std::sync::atomic::AtomicBool::new(false);
    let clients = join_all((0..6).map(|_| async {
        let mut grants = Vec::new();
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let response = app.login_response("ada@example.com", PASSWORD).await;
            if response.status() == StatusCode::OK {
                grants.push(response.json::<Value>().await.unwrap());
            }
        }
        grants
    }));
    let deactivate = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let status = set_active(false).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        status
    };
    let (grants, deactivated) = tokio::join!(clients, deactivate);
    assert_eq!(deactivated, StatusCode::OK);
    let grants: Vec<Value> = grants.into_iter().flatten().collect();
    assert!(!grants.is_empty(), "no login ran before the deactivation");

    // Reactivated: not one session opened before or during the deactivation comes back.
    assert_eq!(set_active(true).await, StatusCode::OK);
    for grant in &grants {
        let access = grant["access_token"].as_str().unwrap();
        let me = app.bearer_get("/api/v1/users/me", access).await;
        assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
        let refreshed = app
            .refresh(grant["refresh_token"].as_str().unwrap(), None)
            .await;
        assert_eq!(refreshed.status(), StatusCode::BAD_REQUEST);
    }
    assert_eq!(
        app.login_response("ada@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn logins_racing_a_password_change_leave_no_surviving_session() {
    // Six logins in flight hold six reservations against the account, which would refuse
    // the owner's own current-password check (rightly: more attempts at once than the
    // limit). This test is about sessions, so the account's limit is out of the way.
    let app = TestApp::builder()
        .settings(|s| s.auth.login_failures_per_account = 100)
        .spawn()
        .await;
    app.register_ok("ada@example.com").await;
    let owner = app.login_tokens("ada@example.com").await;
    let owner_access = owner["access_token"].as_str().unwrap().to_owned();

    // Six attackers log in with the old password over and over while the owner changes it.
    let done = std::sync::atomic::AtomicBool::new(false);
    let attackers = join_all((0..6).map(|_| async {
        let mut grants = Vec::new();
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let response = app.login_response("ada@example.com", PASSWORD).await;
            if response.status() == StatusCode::OK {
                grants.push(response.json::<Value>().await.unwrap());
            }
        }
        // The logins in flight when the change committed have finished by now.
        grants
    }));
    let change = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let response = app
            .bearer_send(
                Method::PUT,
                "/api/v1/users/me/password",
                &owner_access,
                Some(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
            )
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        response.status()
    };
    let (grants, changed) = tokio::join!(attackers, change);
    assert_eq!(changed, StatusCode::NO_CONTENT);
    let grants: Vec<Value> = grants.into_iter().flatten().collect();
    assert!(
        !grants.is_empty(),
        "no attacker login ran before the change"
    );

    // Not one session the attackers opened with the old password survives.
    for grant in &grants {
        let access = grant["access_token"].as_str().unwrap();
        let me = app.bearer_get("/api/v1/users/me", access).await;
        assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
        let refresh = grant["refresh_token"].as_str().unwrap();
        let refreshed = app.refresh(refresh, None).await;
        assert_eq!(refreshed.status(), StatusCode::BAD_REQUEST);
    }
    // The owner's session carries on through its refresh token, and is the only one left.
    let renewed = app
        .refresh(owner["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(renewed.status(), StatusCode::OK);
    let renewed: Value = renewed.json().await.unwrap();
    let sessions: Value = app
        .bearer_get(
            "/api/v1/users/me/sessions",
            renewed["access_token"].as_str().unwrap(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sessions.as_array().unwrap().len(), 1, "{sessions}");
}

#[tokio::test]
async fn a_replayed_refresh_token_revokes_its_session_whatever_the_request_carries() {
    // A replay while the successor is unused is a retry within the leeway
    // (`refresh_retries`); here every replay is one.
    let app = TestApp::builder().settings(no_reuse_leeway).spawn().await;
    app.register_ok("ada@example.com").await;
    for scope in ["me", "users:read", "no-such-scope", "me todos:read"] {
        let first = app.login_tokens("ada@example.com").await;
        let r1 = first["refresh_token"].as_str().unwrap();
        let second: Value = app.refresh(r1, None).await.json().await.unwrap();
        let r2 = second["refresh_token"].as_str().unwrap();

        let replay = app.refresh(r1, Some(scope)).await;
        assert_eq!(replay.status(), StatusCode::BAD_REQUEST, "{scope}");
        let body: Value = replay.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant", "{scope}: {body}");
        // The session is gone: the thief's and the client's tokens alike.
        assert_eq!(
            app.refresh(r2, None).await.status(),
            StatusCode::BAD_REQUEST,
            "{scope}"
        );
        let access = second["access_token"].as_str().unwrap();
        assert_eq!(
            app.bearer_get("/api/v1/users/me", access).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(app.audited("refresh_token_reused").await, 4);
}

#[tokio::test]
async fn without_a_leeway_concurrent_refreshes_with_one_token_grant_at_most_one_pair() {
    // With the leeway, the losers are retries and one pair lives
    // (`refresh_retries::racing_refreshes_with_one_current_token_leave_one_live_pair`).
    let app = TestApp::builder().settings(no_reuse_leeway).spawn().await;
    app.register_ok("ada@example.com").await;
    let tokens = app.login_tokens("ada@example.com").await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let responses = burst(10, |_| app.refresh(refresh, Some("me"))).await;
    let mut winners = Vec::new();
    for response in responses {
        if response.status() == StatusCode::OK {
            winners.push(response.json::<Value>().await.unwrap());
        } else {
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        }
    }
    assert!(winners.len() <= 1, "{} pairs issued", winners.len());
    // The losers were replays: the session is revoked, the winner's pair with it.
    for winner in winners {
        let next = app
            .refresh(winner["refresh_token"].as_str().unwrap(), None)
            .await;
        assert_eq!(next.status(), StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn bursts_of_wrong_current_passwords_are_throttled_and_audited() {
    let app = TestApp::builder().spawn().await;
    let endpoints = [
        (
            Method::PUT,
            "/api/v1/users/me/password",
            json!({"current_password": WRONG, "new_password": NEW_PASSWORD}),
        ),
        (
            Method::PATCH,
            "/api/v1/users/me",
            json!({"email": "new@example.com", "current_password": WRONG}),
        ),
        (
            Method::DELETE,
            "/api/v1/users/me",
            json!({"current_password": WRONG}),
        ),
    ];
    for (n, (method, path, body)) in endpoints.iter().enumerate() {
        let email = format!("user{n}@example.com");
        app.register_ok(&email).await;
        let token = app.login(&email).await;
        let responses = burst(20, |_| {
            app.bearer_send(method.clone(), path, &token, Some(body))
        })
        .await;
        let counts = statuses(responses).await;
        assert_eq!(counts.get(&403), Some(&5), "{method} {path}: {counts:?}");
        assert_eq!(counts.get(&429), Some(&15), "{method} {path}: {counts:?}");
        // One budget per account, shared with logins: the right password waits too.
        let login = app.login_response(&email, PASSWORD).await;
        assert_eq!(login.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
        let me = app.bearer_get("/api/v1/users/me", &token).await;
        assert_eq!(me.status(), StatusCode::OK, "nothing changed: {path}");
    }
    assert_eq!(app.audited("password_check_failed").await, 15);
    assert!(app.audited("password_check_throttled").await >= 45);
}

#[tokio::test]
async fn a_reset_link_dies_when_the_email_changes() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    let reset = reset_link(&app, "ada@example.com").await;

    let changed = app
        .bearer_send(
            Method::PATCH,
            "/api/v1/users/me",
            &token,
            Some(&json!({"email": "ada@new.example.com", "current_password": PASSWORD})),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    // Several tries at once with the link mailed to the old address: none gets through.
    let confirm = json!({"token": reset, "new_password": NEW_PASSWORD});
    let responses = burst(5, |_| {
        app.post_json("/api/v1/auth/password-reset/confirm", &confirm)
    })
    .await;
    assert_eq!(statuses(responses).await.get(&400), Some(&5));
    assert_eq!(
        app.login_response("ada@new.example.com", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_new_password_ends_every_other_reset_link_even_one_used_at_the_same_time() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let mut links = Vec::new();
    for _ in 0..3 {
        links.push(reset_link(&app, "ada@example.com").await);
    }
    // Two links used at once, each setting its own password: one password wins.
    let passwords = ["the first new passphrase", "the second new passphrase"];
    let responses = burst(2, |i| confirm_reset(&app, &links[i], passwords[i])).await;
    let won: Vec<bool> = responses
        .iter()
        .map(|response| response.status() == StatusCode::NO_CONTENT)
        .collect();
    assert_eq!(won.iter().filter(|won| **won).count(), 1, "{responses:?}");
    for response in responses
        .iter()
        .filter(|r| r.status() != StatusCode::NO_CONTENT)
    {
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    let winner = passwords[won.iter().position(|won| *won).unwrap()];
    // The third link, never used, died with the reset.
    let late = confirm_reset(&app, &links[2], "an attacker's passphrase").await;
    assert_eq!(late.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.login_response("ada@example.com", winner).await.status(),
        StatusCode::OK
    );

    // A password changed by its owner ends the links sent before too.
    let link = reset_link(&app, "ada@example.com").await;
    let signed_in: Value = app
        .login_response("ada@example.com", winner)
        .await
        .json()
        .await
        .unwrap();
    let token = signed_in["access_token"].as_str().unwrap().to_owned();
    let changed = app
        .bearer_send(
            Method::PUT,
            "/api/v1/users/me/password",
            &token,
            Some(&json!({"current_password": winner, "new_password": NEW_PASSWORD})),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    let stale = confirm_reset(&app, &link, "an attacker's passphrase").await;
    assert_eq!(stale.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.login_response("ada@example.com", NEW_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn verification_emails_are_limited_per_user_under_a_burst() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    let responses = burst(12, |_| {
        app.bearer_send(Method::POST, "/api/v1/auth/verify-email", &token, None)
    })
    .await;
    let counts = statuses(responses).await;
    assert_eq!(counts.get(&202), Some(&5), "{counts:?}");
    assert_eq!(counts.get(&429), Some(&7), "{counts:?}");
    wait_for_mail(&app, 5).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(gatehouse_tests::outbox(&app).len(), 5);
}

#[tokio::test]
async fn nul_bytes_are_refused_before_any_query() {
    let app = TestApp::builder().spawn().await;
    for username in ["ada\0@example.com", "\0"] {
        let response = app.login_response(username, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{body}");
    }
    let response = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "ada@example.com", "password": PASSWORD, "full_name": "A\u{0}da"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "full_name", "{body}");
    assert_eq!(app.stored_accounts().await, 0);
}

#[tokio::test]
async fn bursts_of_registrations_and_reset_requests_are_judged_as_a_whole() {
    let app = TestApp::builder()
        .settings(|s| {
            s.auth.registrations_per_ip = 4;
            s.auth.password_resets_per_ip = 3;
        })
        .spawn()
        .await;
    let app = &app;
    let responses = burst(10, |i| async move {
        app.register(&format!("user{i}@example.com"), PASSWORD)
            .await
    })
    .await;
    let counts = statuses(responses).await;
    assert_eq!(counts.get(&201), Some(&4), "{counts:?}");
    assert_eq!(counts.get(&429), Some(&6), "{counts:?}");
    assert_eq!(app.stored_accounts().await, 4);

    let reset = json!({"email": "user0@example.com"});
    let reset = &reset;
    let responses = burst(10, |_| async move {
        app.post_json("/api/v1/auth/password-reset", reset).await
    })
    .await;
    let counts = statuses(responses).await;
    assert_eq!(counts.get(&202), Some(&3), "{counts:?}");
    assert_eq!(counts.get(&429), Some(&7), "{counts:?}");
}

#[tokio::test]
async fn a_logout_racing_reads_ends_that_session_only_and_for_good() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    app.register_ok("bob@example.com").await;
    let ended = app.login("ada@example.com").await;
    let other = app.login("ada@example.com").await;
    let bob = app.login("bob@example.com").await;
    // Every session's answer is in the cache before the race.
    for token in [&ended, &other, &bob] {
        assert_eq!(
            app.bearer_get("/api/v1/users/me", token).await.status(),
            StatusCode::OK
        );
    }
    let reads = burst(60, |i| {
        let token = [&ended, &other, &bob][i % 3].clone();
        let app = &app;
        async move { app.bearer_get("/api/v1/users/me", &token).await }
    });
    let logout = app.bearer_send(Method::POST, "/api/v1/auth/logout", &ended, None);
    let (reads, logout) = tokio::join!(reads, logout);
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let during = statuses(reads).await;
    assert!(
        during.keys().all(|status| [200, 401].contains(status)),
        "{during:?}"
    );

    // After the logout has answered: the ended session never again, the others always.
    let after = join_all((0..60).map(|i| {
        let token = [&ended, &other, &bob][i % 3].clone();
        let app = &app;
        async move {
            (
                i % 3,
                app.bearer_get("/api/v1/users/me", &token).await.status(),
            )
        }
    }))
    .await;
    for (which, status) in after {
        let wanted = if which == 0 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        };
        assert_eq!(status, wanted, "token {which}");
    }
}

#[tokio::test]
async fn forged_tokens_racing_the_genuine_one_are_all_refused() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    app.register_ok("bob@example.com").await;
    let genuine = app.login("ada@example.com").await;
    let bob = app.login("bob@example.com").await;
    let (signed, signature) = genuine.rsplit_once('.').unwrap();
    let (_, bob_payload_and_signature) = bob.split_once('.').unwrap();
    let (bob_payload, _) = bob_payload_and_signature.split_once('.').unwrap();
    let (header, _) = signed.split_once('.').unwrap();
    let forged = [
        // Another signature on the genuine header and claims.
        format!("{signed}.{}", "A".repeat(signature.len())),
        // Bob's claims under Ada's signature.
        format!("{header}.{bob_payload}.{signature}"),
        // The genuine token with a byte more or less.
        format!("{genuine}A"),
        genuine[..genuine.len() - 1].to_owned(),
    ];
    // The genuine token goes first and is verified (and remembered) while the forgeries race.
    let responses = join_all((0..50).map(|i| {
        let token = if i % 5 == 0 {
            genuine.clone()
        } else {
            forged[i % 5 - 1].clone()
        };
        let app = &app;
        async move { (i % 5 == 0, app.bearer_get("/api/v1/users/me", &token).await) }
    }))
    .await;
    for (is_genuine, response) in responses {
        let wanted = if is_genuine {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(response.status(), wanted);
        if is_genuine {
            let me: Value = response.json().await.unwrap();
            assert_eq!(me["email"], "ada@example.com");
        }
    }
}

#[tokio::test]
async fn right_passwords_racing_from_one_network_all_get_in() {
    // Each login reserves its account's and its network's counters in one statement and
    // settles both in one statement. Run at once, those statements must take the two rows
    // in the same order, or PostgreSQL ends their deadlocks by failing one of them (a 503,
    // after a second's wait). Cheap hashes, so the statements interleave densely.
    let app = TestApp::builder()
        .settings(|s| {
            s.auth.login_failures_per_account = 10_000;
            s.auth.login_failures_per_ip = 10_000;
            s.password.memory_kib = 1024;
            s.password.iterations = 1;
        })
        .spawn()
        .await;
    app.register_ok("ada@example.com").await;
    let rounds = join_all((0..16).map(|_| async {
        let mut statuses = Vec::new();
        for _ in 0..40 {
            statuses.push(
                app.login_response("ada@example.com", PASSWORD)
                    .await
                    .status()
                    .as_u16(),
            );
        }
        statuses
    }))
    .await;
    let mut counts: HashMap<u16, usize> = HashMap::new();
    for status in rounds.into_iter().flatten() {
        *counts.entry(status).or_default() += 1;
    }
    assert_eq!(counts, HashMap::from([(200, 640)]));
}
