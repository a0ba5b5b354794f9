//! Hostile input in every field of every endpoint, in query strings, path segments and headers
//! (NUL bytes, control characters, 10,000-character strings, invalid UTF-8, numbers, times and
//! ids at the edges) gets a 4xx, never a 5xx, on SQLite and PostgreSQL alike, and leaves the app
//! serving: no input produces a 500 (§4), even input no database accepts (§6).

use gatehouse_tests::document::{Document, Operation};
use gatehouse_tests::{PASSWORD, TestApp};
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

/// An app with a user and an admin, both logged in before any hostile request, and one
/// item of the user's in every owned collection the document lists.
struct Fixture {
    app: TestApp,
    document: Document,
    user: String,
    admin: String,
}

impl Fixture {
    async fn start() -> Self {
        let app = TestApp::builder()
            .settings(|s| {
                // Every hostile value should reach validation and the database, not stop at a
                // throttle (a 429 would be fine, but would prove less).
                s.auth.login_failures_per_account = 100_000;
                s.auth.login_failures_per_ip = 100_000;
                s.auth.registrations_per_ip = 100_000;
                s.auth.password_resets_per_ip = 100_000;
                // So that X-Forwarded-For is read rather than ignored.
                s.server.trusted_proxies = vec!["127.0.0.1".into()];
            })
            .spawn()
            .await;
        app.register_ok(USER).await;
        // Every scope a user may hold, the OpenID Connect ones included.
        let every_scope = gatehouse_domain::Scope::ALL
            .into_iter()
            .filter(|scope| scope.allowed_for(gatehouse_domain::Role::User))
            .map(|scope| scope.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let tokens: Value = app
            .login_with_scope(USER, &every_scope)
            .await
            .json()
            .await
            .expect("tokens");
        let user = tokens["access_token"].as_str().expect("a token").to_owned();
        // A newer session of the user's, which the session operations address (`{id}` is
        // the newest item), so that they do not end the session the requests use.
        app.login(USER).await;
        let admin = app.admin_token("root@example.com").await;
        let document = app.document().await;
        let fx = Self {
            app,
            document,
            user,
            admin,
        };
        for create in fx.document.operations() {
            if fx.document.is_owned_collection(&create) {
                let body = fx.base_body(&create);
                let response = fx
                    .request(
                        create.http_method(),
                        fx.app.url(&create.path),
                        fx.token(&create),
                    )
                    .json(&body)
                    .send()
                    .await
                    .expect("an answer");
                assert_eq!(response.status(), StatusCode::CREATED, "{}", create.path);
            }
        }
        fx
    }

    /// The token an operation is called with: none, the user's, or the admin's.
    fn token(&self, operation: &Operation) -> Option<&str> {
        match (operation.is_protected(), operation.for_users()) {
            (false, _) => None,
            (true, true) => Some(&self.user),
            (true, false) => Some(&self.admin),
        }
    }

    /// The documented example of an operation's body, with every password field set to
    /// [`WRONG`] so that no password check passes.
    fn base_body(&self, operation: &Operation) -> Value {
        let mut body = self
            .document
            .request_example(operation)
            .expect("a JSON body");
        let schema = self
            .document
            .body_schema(operation, "application/json")
            .expect("a body schema");
        let schema = self.document.first_shape(schema);
        for (field, property) in schema["properties"].as_object().expect("properties") {
            if property["format"] == "password" {
                body[field] = json!(WRONG);
            }
        }
        body
    }

    /// `path` with `{id}` filled in with the first item of its collection, as its caller
    /// lists it (or an id no item has, for an empty one).
    async fn concrete(&self, operation: &Operation<'_>) -> String {
        let Some(collection) = operation.path.strip_suffix("/{id}") else {
            return operation.path.clone();
        };
        let token = self.token(operation).expect("a protected item");
        let list: Value = self
            .app
            .bearer_get(collection, token)
            .await
            .json()
            .await
            .expect("a list");
        let items = list.get("items").unwrap_or(&list);
        // A collection the fixture cannot fill (a passkey needs an authenticator's
        // ceremony): an id no item has, which the hostile requests must not trip over either.
        let id = items[0]["id"]
            .as_str()
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        format!("{collection}/{id}")
    }

    fn request(&self, method: Method, url: impl IntoUrl, bearer: Option<&str>) -> RequestBuilder {
        let request = self.app.client.request(method, url);
        match bearer {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Reports every failure at once, then checks that the app still serves, and still reads
    /// back whatever the hostile requests stored: every documented read without a path
    /// parameter answers 200.
    async fn finish(self, failures: Vec<String>) {
        assert!(
            failures.is_empty(),
            "{} hostile requests got a 5xx or no answer:\n{}",
            failures.len(),
            failures.join("\n")
        );
        for read in self.document.operations() {
            if read.method != "get" || read.path.contains('{') {
                continue;
            }
            let request = self.request(Method::GET, self.app.url(&read.path), self.token(&read));
            let status = request.send().await.expect("an answer").status();
            assert_eq!(
                status,
                StatusCode::OK,
                "{} after the hostile requests",
                read.path
            );
        }
    }
}

#[tokio::test]
async fn hostile_bodies_and_forms_never_get_a_5xx() {
    let fx = Fixture::start().await;
    let values = hostile();
    let mut failures = Vec::new();
    // Every documented JSON body: each field in turn gets each value; the other fields keep
    // the documented example's.
    let mut fuzzed = 0;
    for operation in fx.document.operations() {
        let Some(schema) = fx.document.body_schema(&operation, "application/json") else {
            continue;
        };
        fuzzed += 1;
        let (method, bearer) = (operation.http_method(), fx.token(&operation));
        let path = fx.concrete(&operation).await;
        let base = fx.base_body(&operation);
        let schema = fx.document.first_shape(schema);
        for field in schema["properties"].as_object().expect("properties").keys() {
            let render = |value: &str| {
                let mut body = base.clone();
                body[field] = json!(value);
                if body.get("email").is_some() && field != "email" {
                    // A new address each time, so no value stops at `email_taken`.
                    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
                    body["email"] = json!(email);
                }
                body.to_string()
            };
            for (name, body) in bodies(&values, SURROGATES, render) {
                let request = fx
                    .request(method.clone(), fx.app.url(&path), bearer)
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
    assert!(fuzzed >= 10, "only {fuzzed} JSON bodies documented");
    let encoded: Vec<&[u8]> = ENCODED.iter().map(|raw| raw.as_bytes()).collect();
    let forms = fx.document.operations().into_iter().filter(|operation| {
        let form = "application/x-www-form-urlencoded";
        fx.document.body_schema(operation, form).is_some()
    });
    for (operation, grant) in
        forms.flat_map(|operation| grants.clone().map(|g| (operation.path.clone(), g)))
    {
        for &(field, _) in &grant {
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
                    .post(fx.app.url(&operation))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body);
                let label = format!("POST {operation} {field}: {name}");
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

    // Every documented query parameter.
    let (mut queried, mut by_id) = (0, 0);
    for operation in fx.document.operations() {
        let (path, params) = (&operation.path, operation.query_parameters());
        if params.is_empty() {
            continue;
        }
        queried += 1;
        let not_utf8_key = fx.app.url(&format!("{path}?%FF%FE=1"));
        let mut urls = vec![("a key that is not UTF-8".to_owned(), not_utf8_key)];
        for param in &params {
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
            let request = fx.request(operation.http_method(), url, fx.token(&operation));
            check(&mut failures, format!("GET {path}?{label}"), request).await;
        }
    }

    // Every documented path parameter, with every method of its path.
    for operation in fx.document.operations() {
        let Some(prefix) = operation.path.strip_suffix("/{id}") else {
            continue;
        };
        by_id += 1;
        let method = operation.http_method();
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
        let body = fx.document.request_example(&operation);
        for (name, url) in urls {
            let mut request = fx.request(method.clone(), &url, fx.token(&operation));
            if let Some(body) = &body {
                request = request.json(body);
            }
            let label = format!("{} {prefix}/<{name}>", method.as_str());
            check(&mut failures, label, request).await;
        }
    }

    assert!(queried >= 3 && by_id >= 7, "{queried} lists, {by_id} by id");

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
                .request(Method::GET, fx.app.url("/api/v1/users/me"), Some(&fx.user))
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
