//! A browser's part in the authorization code flow, without a browser: an agent that keeps
//! cookies, follows nothing by itself, and reads the forms of the hosted pages; plus PKCE
//! computed here, independently of the server.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::{PASSWORD, TestApp};

/// A PKCE verifier and its S256 challenge (RFC 7636 §4.1–4.2), computed with a SHA-256 of
/// our own choosing (not the server's code).
pub fn pkce() -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(hmac_sha256::Hash::hash(verifier.as_bytes()));
    (verifier, challenge)
}

/// The query parameters of a URL.
pub fn query_of(url: &str) -> HashMap<String, String> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let query = query.split('#').next().unwrap_or_default();
    form_pairs(query)
}

fn form_pairs(text: &str) -> HashMap<String, String> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

fn decode(text: &str) -> Option<String> {
    let bytes = text.replace('+', " ");
    let mut out = Vec::new();
    let mut iter = bytes.bytes();
    while let Some(b) = iter.next() {
        if b == b'%' {
            let hex: String = [iter.next()? as char, iter.next()? as char]
                .iter()
                .collect();
            out.push(u8::from_str_radix(&hex, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `pairs` as `application/x-www-form-urlencoded`.
pub fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of `<input name="{name}" value="…">` in a page.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(unescape_html(&html[start..start + end]))
}

fn unescape_html(text: &str) -> String {
    text.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&lt;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// A user agent with a cookie jar.
pub struct Agent<'a> {
    app: &'a TestApp,
    pub cookies: HashMap<String, String>,
}

impl<'a> Agent<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, response: &Response) {
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            let removed = text.contains("Max-Age=0") || text.contains("max-age=0");
            if removed || value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    /// GET an absolute URL or a path of the app.
    pub async fn get(&mut self, url: &str) -> Response {
        let url = if url.starts_with('/') {
            self.app.url(url)
        } else {
            url.to_owned()
        };
        let response = self
            .app
            .client
            .get(url)
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&response);
        response
    }

    /// POST a form to a path of the app.
    pub async fn post_form(&mut self, path: &str, pairs: &[(&str, &str)]) -> Response {
        let response = self
            .app
            .client
            .post(self.app.url(path))
            .header(COOKIE, self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(pairs))
            .send()
            .await
            .unwrap();
        self.keep(&response);
        response
    }

    /// Opens the sign-in page behind `location` and signs in; returns the answer to the
    /// sign-in form.
    pub async fn sign_in_at(&mut self, location: &str, email: &str, password: &str) -> Response {
        let page = self.get(location).await;
        assert_eq!(page.status(), StatusCode::OK, "the sign-in page");
        let html = page.text().await.unwrap();
        let csrf = input_value(&html, "csrf").expect("a CSRF field");
        let return_to = input_value(&html, "return_to").expect("a return_to field");
        self.post_form(
            "/signin",
            &[
                ("csrf", &csrf),
                ("return_to", &return_to),
                ("email", email),
                ("password", password),
            ],
        )
        .await
    }

    /// From an authorization request URL to the redirect back to the client: signs in when
    /// asked (as `email`), follows our own redirects, and returns the final `Location`.
    pub async fn authorize(&mut self, url: &str, email: &str) -> String {
        let mut response = self.get(url).await;
        for _ in 0..5 {
            let status = response.status();
            if !status.is_redirection() {
                panic!(
                    "expected a redirect, got {status}: {}",
                    response.text().await.unwrap()
                );
            }
            let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
            if location.starts_with("/signin") {
                response = self.sign_in_at(&location, email, PASSWORD).await;
            } else if location.starts_with('/') {
                response = self.get(&location).await;
            } else {
                return location;
            }
        }
        panic!("too many redirects");
    }
}

/// An app signing with a fresh Ed25519 key (ID tokens need an asymmetric key), with its
/// admin's token; keep the directory alive as long as the app.
pub async fn eddsa_app() -> (TestApp, String, tempfile::TempDir) {
    use secrecy::ExposeSecret;
    let dir = tempfile::tempdir().unwrap();
    let (private, _) = gatehouse_security::keys::generate_ed25519().unwrap();
    let path = dir.path().join("key.pem");
    std::fs::write(&path, private.expose_secret()).unwrap();
    let app = crate::TestApp::builder()
        .settings(move |s| {
            s.jwt.algorithm = gatehouse_server::settings::JwtAlgorithm::EdDSA;
            s.jwt.private_key_file = Some(path);
        })
        .spawn()
        .await;
    let admin = app.admin_token("admin@example.com").await;
    (app, admin, dir)
}

/// Registers a client through the admin API; returns the answer's body (with
/// `client_secret` for a confidential client).
pub async fn register_client(app: &TestApp, admin_token: &str, client: Value) -> Value {
    let response = app
        .client
        .post(app.url("/api/v1/clients"))
        .bearer_auth(admin_token)
        .json(&client)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "client registered");
    response.json().await.unwrap()
}

/// A first-party public client (an SPA) redirecting to `redirect_uri`.
pub fn spa(id: &str, redirect_uri: &str) -> Value {
    json!({
        "id": id,
        "name": format!("App {id}"),
        "public": true,
        "redirect_uris": [redirect_uri],
        "first_party": true,
    })
}

/// The URL of an authorization request with these parameters.
pub fn authorize_url(app: &TestApp, params: &[(&str, &str)]) -> String {
    app.url(&format!("/oauth2/authorize?{}", form_body(params)))
}
