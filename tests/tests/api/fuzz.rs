//! Hostile input in every field of every endpoint, in query strings, path segments and headers
//! (NUL bytes, control characters, 10,000-character strings, invalid UTF-8, numbers, times and
//! ids at the edges) gets a 4xx, never a 5xx, on SQLite and PostgreSQL alike, and leaves the app
//! serving: no input produces a 500 (§4), even input no database accepts (§6).

use gatehouse_tests::{PASSWORD, TestApp, spawn_app_with};
use reqwest::header::HeaderValue;
use reqwest::{IntoUrl, Method, RequestBuilder, StatusCode, Url};
use serde_json::{Value, json};

const USER: &str = "ada@example.com";
/// Nobody's password: every password check fails, so nothing destructive goes through.
const WRONG: &str = "not the right password";
/// Stands in a rendered body for bytes that a `String` cannot hold.
const MARK: &str = "HOSTILE-MARK";
/// Bytes that are not UTF-8: invalid, an overlong NUL, an encoded surrogate, a stray continuation.
const INVALID_UTF8: &[&[u8]] = &[b"\xff\xfe", b"\xc0\x80", b"\xed\xa0\x80", b"a\x80"];
/// JSON escapes of lone surrogates: valid UTF-8, but not Unicode.
const SURROGATES: &[&[u8]] = &[br"\ud800", br"\udfff\ud800"];
/// Already percent-encoded, for forms and URLs: not UTF-8, NUL, broken escapes.
const ENCODED: &[&str] = &["%FF%FE", "%00", "a%00b", "%C0%80", "%ED%A0%80", "%", "%G0"];
/// At the edges of what parses as a number, a time or an id (for query strings and paths).
const EDGES: &[&str] = &[
    "-1",
    "0",
    "1e3",
    "1000000000",
    "18446744073709551615",
    "18446744073709551616",
    "0000-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59-23:59",
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "urn:uuid:00000000-0000-0000-0000-000000000000",
    "{00000000-0000-0000-0000-000000000000}",
];

/// Named strings no well-behaved client sends, for every string field.
fn hostile() -> Vec<(&'static str, String)> {
    vec![
        ("NUL", "a\u{0}b".into()),
        ("NUL in an email", "ada\u{0}@example.com".into()),
        ("control characters", "\u{1}\u{7}\u{1b}[31m\r\n\t".into()),
        ("10,000 characters", "x".repeat(10_000)),
        (
            "10,000-character email",
            format!("{}@example.com", "a".repeat(10_000)),
        ),
        ("200 four-byte characters", "🦀".repeat(200)),
        ("2,001 four-byte characters", "🦀".repeat(2_001)),
        ("empty", String::new()),
        ("blank", " \u{a0}\u{3000}\u{200b} ".into()),
        ("SQL", "' OR '1'='1'; DROP TABLE users; --".into()),
        (
            "bidi override and BOM",
            "\u{202e}\u{feff}ada@example.com".into(),
        ),
        ("noncharacters", "\u{fffe}\u{ffff}\u{10ffff}".into()),
        ("percent escapes", "%00%FF%C0%80".into()),
    ]
}

/// Every hostile body for one field: `render(value)` puts `value` in the field; bytes a string
/// cannot hold are spliced in where `render(MARK)` put the mark.
fn bodies(
    values: &[(&'static str, String)],
    extra: &[&[u8]],
    render: impl Fn(&str) -> String,
) -> Vec<(String, Vec<u8>)> {
    let marked = render(MARK);
    let strings = values
        .iter()
        .map(|(name, value)| (name.to_string(), render(value.as_str()).into_bytes()));
    let bytes = INVALID_UTF8.iter().chain(extra).map(|bad| {
        let (before, after) = marked.split_once(MARK).expect("the mark");
        let body = [before.as_bytes(), *bad, after.as_bytes()].concat();
        (format!("bytes {}", bad.escape_ascii()), body)
    });
    strings.chain(bytes).collect()
}

/// An `application/x-www-form-urlencoded` body.
fn form(pairs: &[(&str, &str)]) -> String {
    let mut url = Url::parse("http://form.invalid/").expect("a URL");
    {
        let mut query = url.query_pairs_mut();
        for (key, value) in pairs {
            query.append_pair(key, value);
        }
    }
    url.query().unwrap_or_default().to_owned()
}

/// Sends `request` and notes, under `label`, an answer that is a 5xx or that never comes.
async fn check(failures: &mut Vec<String>, label: String, request: RequestBuilder) {
    match request.send().await {
        Ok(response) if response.status().is_server_error() => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            let body: String = body.chars().take(300).collect();
            failures.push(format!("{label}: {status} {body}"));
        }
        Ok(_) => {}
        Err(error) => failures.push(format!("{label}: no answer ({error})")),
    }
}

/// An app with a user (who has a todo) and an admin, both logged in before any hostile request.
struct Fixture {
    app: TestApp,
    user: String,
    admin: String,
    user_id: String,
    todo_id: String,
}

impl Fixture {
    async fn start() -> Self {
        let app = spawn_app_with(|s| {
            // Every hostile value should reach validation and the database, not stop at a
            // throttle (a 429 would be fine, but would prove less).
            s.auth.login_failures_per_account = 100_000;
            s.auth.login_failures_per_ip = 100_000;
            s.auth.registrations_per_ip = 100_000;
            s.auth.password_resets_per_ip = 100_000;
            // So that X-Forwarded-For is read rather than ignored.
            s.server.trusted_proxies = vec!["127.0.0.1".into()];
        })
        .await;
        let registered = app.register_ok(USER).await;
        let user_id = registered["id"].as_str().expect("an id").to_owned();
        let user = app.login(USER).await;
        let admin = app.admin_token("root@example.com").await;
        let todo = json!({"title": "Buy milk"});
        let todo = app
            .bearer_send(Method::POST, "/api/v1/todos", &user, Some(&todo))
            .await;
        assert_eq!(todo.status(), StatusCode::CREATED);
        let todo: Value = todo.json().await.expect("todo JSON");
        let todo_id = todo["id"].as_str().expect("an id").to_owned();
        Self {
            app,
            user,
            admin,
            user_id,
            todo_id,
        }
    }

    fn request(&self, method: Method, url: impl IntoUrl, bearer: Option<&str>) -> RequestBuilder {
        let request = self.app.client.request(method, url);
        match bearer {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Reports every failure at once, then checks that the app still serves, and still reads
    /// back whatever the hostile requests stored.
    async fn finish(self, failures: Vec<String>) {
        assert!(
            failures.is_empty(),
            "{} hostile requests got a 5xx or no answer:\n{}",
            failures.len(),
            failures.join("\n")
        );
        assert_eq!(self.app.get("/health/ready").await.status(), StatusCode::OK);
        for (path, token) in [
            ("/api/v1/users/me", &self.user),
            ("/api/v1/users/me/sessions", &self.user),
            ("/api/v1/todos?limit=100", &self.user),
            ("/api/v1/users?limit=100", &self.admin),
            ("/api/v1/audit?limit=100", &self.admin),
        ] {
            let status = self.app.bearer_get(path, token).await.status();
            assert_eq!(status, StatusCode::OK, "{path} after the hostile requests");
        }
    }
}

#[tokio::test]
async fn hostile_bodies_and_forms_never_get_a_5xx() {
    let fx = Fixture::start().await;
    let values = hostile();
    let mut failures = Vec::new();
    let (user, admin) = (Some(fx.user.as_str()), Some(fx.admin.as_str()));
    let todo_path = format!("/api/v1/todos/{}", fx.todo_id);
    let user_path = format!("/api/v1/users/{}", fx.user_id);
    // Each field in turn gets each value; the other fields stay valid.
    let endpoints: Vec<(Method, &str, Option<&str>, Value)> = vec![
        (
            Method::POST,
            "/api/v1/auth/register",
            None,
            json!({"email": "new@example.com", "password": PASSWORD, "full_name": "Grace"}),
        ),
        (
            Method::POST,
            "/api/v1/auth/password-reset",
            None,
            json!({"email": "nobody@example.com"}),
        ),
        (
            Method::POST,
            "/api/v1/auth/password-reset/confirm",
            None,
            json!({"token": "not-a-reset-token", "new_password": PASSWORD}),
        ),
        (
            Method::POST,
            "/api/v1/auth/verify-email/confirm",
            None,
            json!({"token": "not-a-verification-token"}),
        ),
        (
            Method::PATCH,
            "/api/v1/users/me",
            user,
            json!({"full_name": "Ada"}),
        ),
        (
            Method::PATCH,
            "/api/v1/users/me",
            user,
            json!({"email": "ada.new@example.com", "current_password": WRONG}),
        ),
        (
            Method::PUT,
            "/api/v1/users/me/password",
            user,
            json!({"current_password": WRONG, "new_password": "a brand new passphrase"}),
        ),
        (
            Method::DELETE,
            "/api/v1/users/me",
            user,
            json!({"current_password": WRONG}),
        ),
        (
            Method::POST,
            "/api/v1/todos",
            user,
            json!({"title": "Buy milk", "description": "Oat", "done": false}),
        ),
        (
            Method::PATCH,
            todo_path.as_str(),
            user,
            json!({"title": "Buy milk", "description": "Oat", "done": true}),
        ),
        (
            Method::PATCH,
            user_path.as_str(),
            admin,
            json!({"full_name": "Ada", "role": "user", "is_active": true, "is_verified": false}),
        ),
    ];
    for (method, path, bearer, base) in endpoints {
        for field in base.as_object().expect("an object").keys() {
            let render = |value: &str| {
                let mut body = base.clone();
                body[field] = json!(value);
                if path.ends_with("/register") && field != "email" {
                    // A new address each time, so no value stops at `email_taken`.
                    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
                    body["email"] = json!(email);
                }
                body.to_string()
            };
            for (name, body) in bodies(&values, SURROGATES, render) {
                let request = fx
                    .request(method.clone(), fx.app.url(path), bearer)
                    .header("content-type", "application/json")
                    .body(body);
                let label = format!("{} {path} {field}: {name}", method.as_str());
                check(&mut failures, label, request).await;
            }
        }
    }

    let grants = [
        vec![
            ("grant_type", "password"),
            ("username", USER),
            ("password", PASSWORD),
            ("scope", "me"),
        ],
        vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", "not-a-refresh-token"),
            ("scope", "me"),
        ],
    ];
    let encoded: Vec<&[u8]> = ENCODED.iter().map(|raw| raw.as_bytes()).collect();
    for grant in &grants {
        for &(field, _) in grant {
            let render = |value: &str| {
                let pairs: Vec<(&str, &str)> = grant
                    .iter()
                    .map(|&(key, base)| (key, if key == field { value } else { base }))
                    .collect();
                form(&pairs)
            };
            for (name, body) in bodies(&values, &encoded, render) {
                let request = fx
                    .app
                    .client
                    .post(fx.app.url("/api/v1/auth/token"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body);
                let label = format!("POST /api/v1/auth/token {field}: {name}");
                check(&mut failures, label, request).await;
            }
        }
    }
    fx.finish(failures).await;
}

#[tokio::test]
async fn hostile_urls_and_headers_never_get_a_5xx() {
    let fx = Fixture::start().await;
    let mut values = hostile();
    values.extend(EDGES.iter().map(|edge| (*edge, edge.to_string())));
    let mut failures = Vec::new();
    let (user, admin) = (fx.user.as_str(), fx.admin.as_str());

    let queries: [(&str, &[&str], &str); 3] = [
        ("/api/v1/todos", &["done", "limit", "offset"], user),
        (
            "/api/v1/users",
            &["q", "role", "is_active", "limit", "offset"],
            admin,
        ),
        (
            "/api/v1/audit",
            &["type", "user_id", "since", "until", "limit", "offset"],
            admin,
        ),
    ];
    for (path, params, bearer) in queries {
        let not_utf8_key = fx.app.url(&format!("{path}?%FF%FE=1"));
        let mut urls = vec![("a key that is not UTF-8".to_owned(), not_utf8_key)];
        for param in params {
            for (name, value) in &values {
                let mut url = Url::parse(&fx.app.url(path)).expect("a URL");
                url.query_pairs_mut().append_pair(param, value);
                urls.push((format!("{param}={name}"), url.to_string()));
            }
            for raw in ENCODED {
                let url = fx.app.url(&format!("{path}?{param}={raw}"));
                urls.push((format!("{param}={raw}"), url));
            }
            let twice = fx.app.url(&format!("{path}?{param}=1&{param}=2"));
            urls.push((format!("{param} twice"), twice));
        }
        for (label, url) in urls {
            let request = fx.request(Method::GET, url, Some(bearer));
            check(&mut failures, format!("GET {path}?{label}"), request).await;
        }
    }

    let all = || vec![Method::GET, Method::PATCH, Method::DELETE];
    let by_id = [
        ("/api/v1/todos", user, all(), json!({"done": true})),
        ("/api/v1/users", admin, all(), json!({"full_name": "Ada"})),
        (
            "/api/v1/users/me/sessions",
            user,
            vec![Method::DELETE],
            Value::Null,
        ),
    ];
    for (prefix, bearer, methods, body) in by_id {
        let mut urls = Vec::new();
        // Not the empty segment: a trailing slash is a question about routes, not input.
        for (name, value) in values.iter().filter(|(_, value)| !value.is_empty()) {
            let mut url = Url::parse(&fx.app.url(prefix)).expect("a URL");
            url.path_segments_mut().expect("a base URL").push(value);
            urls.push((name.to_string(), url.to_string()));
        }
        for raw in ENCODED {
            urls.push((raw.to_string(), fx.app.url(&format!("{prefix}/{raw}"))));
        }
        for (name, url) in urls {
            for method in &methods {
                let mut request = fx.request(method.clone(), &url, Some(bearer));
                if *method == Method::PATCH {
                    request = request.json(&body);
                }
                let label = format!("{} {prefix}/<{name}>", method.as_str());
                check(&mut failures, label, request).await;
            }
        }
    }

    // Header values cannot hold NUL or control characters; these are the worst HTTP allows.
    let junk = [
        (
            "10,000 characters",
            HeaderValue::from_str(&"x".repeat(10_000)),
        ),
        (
            "bytes that are not ASCII",
            HeaderValue::from_bytes(b"\xff\xfe\x80 junk"),
        ),
        (
            "quotes and SQL",
            Ok(HeaderValue::from_static("\t' OR '1'='1'; -- \"\\")),
        ),
    ]
    .map(|(name, value)| (name, value.expect("a valid header value")));
    let many_hops = "203.0.113.9, ".repeat(1_000);
    let mut forwarded = junk.to_vec();
    for (name, hops) in [
        ("not an IP", "not-an-ip"),
        ("an impossible IP", "198.51.100.7, 999.999.999.999"),
        ("IPv4-mapped", "::ffff:203.0.113.9"),
        ("zone id", "fe80::1%eth0"),
        ("with a port", "[2001:db8::1]:443"),
        ("empty hops", ", , ,"),
        ("1,000 hops", many_hops.as_str()),
    ] {
        forwarded.push((
            name,
            HeaderValue::from_str(hops).expect("a valid header value"),
        ));
    }
    for (header, cases) in [
        ("user-agent", junk.to_vec()),
        ("x-forwarded-for", forwarded),
    ] {
        for (name, value) in cases {
            // Logins store the client in a session or in the audit trail.
            let login = |password: &str| {
                let fields = [
                    ("grant_type", "password"),
                    ("username", USER),
                    ("password", password),
                ];
                fx.app
                    .client
                    .post(fx.app.url("/api/v1/auth/token"))
                    .header(header, value.clone())
                    .form(&fields)
            };
            check(
                &mut failures,
                format!("login, {header}: {name}"),
                login(PASSWORD),
            )
            .await;
            check(
                &mut failures,
                format!("failed login, {header}: {name}"),
                login(WRONG),
            )
            .await;
            let me = fx
                .request(Method::GET, fx.app.url("/api/v1/users/me"), Some(user))
                .header(header, value);
            check(
                &mut failures,
                format!("GET /api/v1/users/me, {header}: {name}"),
                me,
            )
            .await;
        }
    }
    fx.finish(failures).await;
}
