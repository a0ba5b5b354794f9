//! Prometheus metrics on a listener of their own: the names and labels an operator's
//! dashboards read, counts that move with the requests made (also when they race), and no
//! personal data in any label.

use futures::future::join_all;
use gatehouse_tests::{ManualClock, TestApp};
use reqwest::StatusCode;

async fn metered_app() -> TestApp {
    TestApp::builder()
        .settings(|s| s.server.metrics_address = Some("127.0.0.1:0".into()))
        .spawn()
        .await
}

async fn scrape(app: &TestApp) -> String {
    let url = format!(
        "{}/metrics",
        app.metrics_address.as_ref().expect("metrics on")
    );
    let response = reqwest::get(url).await.expect("metrics answer");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
    );
    response.text().await.unwrap()
}

/// The value of the sample `series` (a name and its labels, as written), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

#[tokio::test]
async fn requests_sign_ins_grants_and_the_database_are_counted() {
    let app = metered_app().await;
    let before = scrape(&app).await;
    for outcome in [
        "success",
        "wrong_password",
        "throttled",
        "second_factor_asked",
        "second_factor_failed",
    ] {
        assert!(
            before.contains(&format!("gatehouse_logins_total{{outcome=\"{outcome}\"}}")),
            "every sign-in outcome is shown from the start: {outcome}"
        );
    }

    let email = "metered@example.com";
    app.register_ok(email).await;
    let token = app.login(email).await;
    for _ in 0..2 {
        let wrong = app.login_response(email, "not the password at all").await;
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    }
    for _ in 0..3 {
        let me = app.bearer_get("/api/v1/users/me", &token).await;
        assert_eq!(me.status(), StatusCode::OK);
    }
    let user_id = app.bearer_get("/api/v1/users/me", &token).await;
    let user_id = user_id.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let missing = app
        .client
        .get(app.url(&format!("/no/such/{user_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    // Not on the service's own listener.
    let hidden = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);

    let after = scrape(&app).await;
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(
        moved(
            r#"gatehouse_http_request_duration_seconds_count{method="GET",route="/api/v1/users/me",status="200"}"#
        ),
        4.0
    );
    assert_eq!(
        moved(
            r#"gatehouse_http_request_duration_seconds_count{method="POST",route="/api/v1/auth/register",status="201"}"#
        ),
        1.0
    );
    assert_eq!(
        moved(
            r#"gatehouse_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"}"#
        ),
        2.0,
        "unknown paths are counted under one label, never by their text"
    );
    assert_eq!(moved(r#"gatehouse_logins_total{outcome="success"}"#), 1.0);
    assert_eq!(
        moved(r#"gatehouse_logins_total{outcome="wrong_password"}"#),
        2.0
    );
    assert_eq!(
        moved(r#"gatehouse_token_grants_total{grant_type="password",outcome="issued"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"gatehouse_token_grants_total{grant_type="password",outcome="refused"}"#),
        2.0
    );
    assert_eq!(
        moved(r#"gatehouse_security_events_total{event="login_failed"}"#),
        2.0
    );
    assert!(moved(r#"gatehouse_db_statement_duration_seconds_count{statement="select"}"#) > 0.0);
    assert!(moved(r#"gatehouse_db_statement_duration_seconds_count{statement="insert"}"#) > 0.0);
    assert!(
        moved(r#"gatehouse_hashing_wait_seconds_count"#) >= 3.0,
        "a hash for the sign-up and each sign-in"
    );
    let cache = moved(r#"gatehouse_session_cache_lookups_total{result="hit"}"#)
        + moved(r#"gatehouse_session_cache_lookups_total{result="miss"}"#);
    assert_eq!(cache, 4.0, "one session lookup per /users/me");
    assert!(after.contains("gatehouse_db_connections{pool="));
    assert!(after.contains("gatehouse_hashing_queue_depth 0"));

    // The sample dashboard reads only metrics that exist.
    let dashboard = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/grafana-dashboard.json"),
    )
    .expect("docs/grafana-dashboard.json");
    let mut read = 0;
    for (at, _) in dashboard.match_indices("gatehouse_") {
        let name: String = dashboard[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let family = ["_bucket", "_total", "_count", "_sum"]
            .iter()
            .fold(name.as_str(), |name, suffix| {
                name.strip_suffix(suffix).unwrap_or(name)
            });
        assert!(
            after.contains(&format!("# TYPE {family} ")),
            "the dashboard reads `{name}`, which is not exported"
        );
        read += 1;
    }
    assert!(read >= 12);

    // Nothing names anyone: no address, no account id, no path of a request.
    for personal in [email, "metered%40example.com", user_id.as_str(), "/no/such"] {
        assert!(
            !after.contains(personal),
            "`{personal}` appears in the metrics"
        );
    }
}

#[tokio::test]
async fn a_burst_of_wrong_passwords_is_counted_once_each() {
    let app = metered_app().await;
    let email = "burst-metered@example.com";
    app.register_ok(email).await;
    let before = scrape(&app).await;
    const BURST: usize = 24;
    let statuses = join_all(
        (0..BURST).map(|_| app.login_response(email, "a wrong password, many times over")),
    )
    .await
    .into_iter()
    .map(|response| response.status())
    .collect::<Vec<_>>();
    let throttled = statuses
        .iter()
        .filter(|status| **status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(throttled > 0, "the burst went past the account's limit");

    let after = scrape(&app).await;
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    // Every attempt is one outcome: verified and wrong, or refused before any check.
    assert_eq!(
        moved(r#"gatehouse_logins_total{outcome="wrong_password"}"#)
            + moved(r#"gatehouse_logins_total{outcome="throttled"}"#),
        BURST as f64
    );
    assert_eq!(
        moved(r#"gatehouse_logins_total{outcome="throttled"}"#),
        throttled as f64
    );
    assert_eq!(
        moved(
            r#"gatehouse_http_request_duration_seconds_count{method="POST",route="/api/v1/auth/token",status="429"}"#
        ),
        throttled as f64
    );
    assert!(
        moved(r#"gatehouse_throttle_refusals_total{bucket="login_account"}"#)
            + moved(r#"gatehouse_throttle_refusals_total{bucket="login_ip"}"#)
            >= 1.0
    );
    assert_eq!(
        moved(r#"gatehouse_token_grants_total{grant_type="password",outcome="refused"}"#),
        BURST as f64
    );
    assert_eq!(moved(r#"gatehouse_logins_total{outcome="success"}"#), 0.0);
}

#[tokio::test]
async fn no_metrics_listener_unless_configured() {
    let app = TestApp::builder().spawn().await;
    assert!(app.metrics_address.is_none());
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn purging_ended_sessions_keeps_the_answers_the_cache_holds_for_live_ones() {
    let clock = ManualClock::new();
    let app = TestApp::builder()
        .settings(|s| {
            s.server.metrics_address = Some("127.0.0.1:0".into());
            s.auth.housekeeping_interval_secs = 1;
        })
        .clock(clock.clone())
        .spawn()
        .await;
    app.register_ok("ada@example.com").await;
    let live = app.login("ada@example.com").await;
    // More than a PostgreSQL notice may name (100): deleted in one statement, they would
    // have been noticed as "*" (everything) had ended sessions counted.
    for _ in 0..101 {
        let ended = app.login("ada@example.com").await;
        app.bearer_send(reqwest::Method::POST, "/api/v1/auth/logout", &ended, None)
            .await;
    }
    // The live session's answer is kept: a request is served from memory. (A write that
    // commits while a read is in flight keeps that read's answer out, so ask until one is.)
    let mut kept = false;
    for _ in 0..20 {
        let before = scrape(&app).await;
        let me = app.bearer_get("/api/v1/users/me", &live).await;
        assert_eq!(me.status(), StatusCode::OK, "the live session is served");
        let after = scrape(&app).await;
        let hit = r#"gatehouse_session_cache_lookups_total{result="hit"}"#;
        if sample(&after, hit) > sample(&before, hit) {
            kept = true;
            break;
        }
    }
    assert!(kept, "the live session's answer is kept before the purge");
    clock.advance(chrono::Duration::minutes(1));

    // Housekeeping deletes the ended sessions.
    let mut sessions = 0;
    for _ in 0..50 {
        sessions = app.stored_sessions().await;
        if sessions == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(sessions, 1, "the ended sessions are purged");
    // Let a notice, had one been sent, reach the listener.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = scrape(&app).await;
    let me = app.bearer_get("/api/v1/users/me", &live).await;
    assert_eq!(
        me.status(),
        StatusCode::OK,
        "the live session outlives the purge"
    );
    let after = scrape(&app).await;
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(
        moved(r#"gatehouse_session_cache_lookups_total{result="hit"}"#),
        1.0,
        "the live session's answer was kept through the purge"
    );
}
