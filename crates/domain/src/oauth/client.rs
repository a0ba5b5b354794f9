//! Registered OAuth 2.0 clients: who may ask for an authorization code, where the answer may
//! be sent, and how the client proves itself at the token endpoint.

use chrono::{DateTime, Utc};
use url::Url;

use crate::apis::{ApiId, ApiIdentifier, ScopeName};
pub use crate::id::{ClientId, ClientIdError};
use crate::ports::TokenDigest;

const CLIENT_NAME_MAX: usize = 100;
const REDIRECT_URI_MAX: usize = 2_000;
/// How many redirect URIs one client may register (of each kind).
pub const MAX_REDIRECT_URIS: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientNameError {
    #[error("must be 1 to {CLIENT_NAME_MAX} characters on one line")]
    Invalid,
}

/// The name people see on the consent page: one line, 1–100 characters, stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientName(String);

impl ClientName {
    pub fn parse(raw: &str) -> Result<Self, ClientNameError> {
        let trimmed = raw.trim();
        if trimmed.is_empty()
            || raw.chars().count() > CLIENT_NAME_MAX
            || raw.chars().any(char::is_control)
        {
            return Err(ClientNameError::Invalid);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    #[error("must be an absolute URI of at most {REDIRECT_URI_MAX} characters")]
    NotAbsolute,
    #[error("must not have a fragment (RFC 6749 §3.1.2)")]
    Fragment,
    #[error(
        "must use https, http on a loopback address (127.0.0.1, [::1], localhost), or an app's own scheme containing a dot"
    )]
    Scheme,
    #[error("must not carry credentials")]
    Credentials,
}

/// A registered redirect URI. Requests must name one exactly (RFC 6749 §3.1.2.3), with the
/// one exception of RFC 8252 §7.3: for `http` on a loopback address the port may differ,
/// since a native app listens on whatever port it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    pub fn parse(raw: &str) -> Result<Self, RedirectUriError> {
        if raw.len() > REDIRECT_URI_MAX || raw.chars().any(|c| c.is_control() || c == ' ') {
            return Err(RedirectUriError::NotAbsolute);
        }
        let url = Url::parse(raw).map_err(|_| RedirectUriError::NotAbsolute)?;
        if url.fragment().is_some() {
            return Err(RedirectUriError::Fragment);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(RedirectUriError::Credentials);
        }
        match url.scheme() {
            "https" if url.host().is_some() => {}
            "http" if is_loopback(&url) => {}
            // Private-use schemes of native apps are reversed domain names (RFC 8252 §7.1).
            scheme if scheme.contains('.') => {}
            _ => return Err(RedirectUriError::Scheme),
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `requested`, as a client sent it, names this URI: the same string, or for
    /// a loopback `http` URI the same but for the port.
    pub fn matches(&self, requested: &str) -> bool {
        if self.0 == requested {
            return true;
        }
        let (Ok(registered), Ok(mut asked)) = (Url::parse(&self.0), Url::parse(requested)) else {
            return false;
        };
        if registered.scheme() != "http" || !is_loopback(&registered) || !is_loopback(&asked) {
            return false;
        }
        // Compare everything but the port, as parsed and re-serialized by both sides.
        if asked.set_port(registered.port()).is_err() {
            return false;
        }
        asked.as_str() == registered.as_str() && requested.starts_with("http://")
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

/// How a client proves itself at the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientKind {
    /// A browser app or a native app: it cannot keep a secret, so it must use PKCE (S256).
    Public,
    /// A server-side app with a secret (`client_secret_basic` or `client_secret_post`),
    /// stored only as its digest; after a rotation, the one before it stays good until
    /// `retiring`'s time.
    Confidential {
        secret: TokenDigest,
        retiring: Option<RetiringSecret>,
    },
}

/// A client secret replaced by a rotation, still accepted until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiringSecret {
    pub digest: TokenDigest,
    pub until: DateTime<Utc>,
}

impl ClientKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ClientKind::Public => "public",
            ClientKind::Confidential { .. } => "confidential",
        }
    }

    /// Whether a secret whose digest is `given` proves a confidential client at `now`: its
    /// secret, or the one a rotation retires while its overlap lasts.
    pub fn accepts(&self, given: &TokenDigest, now: DateTime<Utc>) -> bool {
        match self {
            ClientKind::Public => false,
            ClientKind::Confidential { secret, retiring } => {
                secret == given
                    || retiring
                        .as_ref()
                        .is_some_and(|old| old.digest == *given && now < old.until)
            }
        }
    }
}

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: ClientId,
    pub name: ClientName,
    pub kind: ClientKind,
    pub redirect_uris: Vec<RedirectUri>,
    /// Where `GET /oauth2/logout` may send the browser afterwards.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// Part of the same service as gatehouse: no consent page.
    pub first_party: bool,
    /// An API (resource server) that accepts gatehouse's tokens: it may introspect them
    /// (RFC 7662). Only a confidential client can be one.
    pub resource_server: bool,
    /// An admin let it use the client credentials grant: tokens for itself, on the APIs
    /// and scopes of its [`ApiAccess`]. Only a confidential client can.
    pub client_credentials: bool,
    /// An admin let it use the device authorization grant (RFC 8628): a device without a
    /// browser whose person approves it on gatehouse's page.
    pub device_code: bool,
    pub created_at: DateTime<Utc>,
}

/// The scopes of one registered API that a client may ask tokens for (for itself by the
/// client credentials grant, or for the people who sign in to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiAccess {
    pub api: ApiId,
    /// The API's identifier: the `aud` of its tokens.
    pub identifier: ApiIdentifier,
    pub scopes: Vec<ScopeName>,
}

impl Client {
    /// The registered redirect URI that `requested` names, if any.
    pub fn redirect_uri(&self, requested: &str) -> Option<&RedirectUri> {
        self.redirect_uris.iter().find(|uri| uri.matches(requested))
    }

    /// The registered post-logout redirect URI equal to `requested`, if any (exactly).
    pub fn post_logout_redirect_uri(&self, requested: &str) -> Option<&RedirectUri> {
        self.post_logout_redirect_uris
            .iter()
            .find(|uri| uri.as_str() == requested)
    }

    pub fn is_public(&self) -> bool {
        self.kind == ClientKind::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_absolute_without_fragments_and_safe_schemes() {
        for good in [
            "https://app.example.com/callback",
            "http://127.0.0.1/cb",
            "http://localhost:8080/cb",
            "http://[::1]:9000/",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(RedirectUri::parse(good).is_ok(), "{good}");
        }
        assert_eq!(
            RedirectUri::parse("https://app.example.com/cb#x"),
            Err(RedirectUriError::Fragment)
        );
        assert_eq!(
            RedirectUri::parse("http://app.example.com/cb"),
            Err(RedirectUriError::Scheme)
        );
        assert_eq!(
            RedirectUri::parse("javascript:alert(1)"),
            Err(RedirectUriError::Scheme)
        );
        assert_eq!(
            RedirectUri::parse("/relative"),
            Err(RedirectUriError::NotAbsolute)
        );
        assert_eq!(
            RedirectUri::parse("https://user:pw@app.example.com/"),
            Err(RedirectUriError::Credentials)
        );
    }

    #[test]
    fn redirect_uris_match_exactly_except_a_loopback_port() {
        let web = RedirectUri::parse("https://app.example.com/cb").unwrap();
        assert!(web.matches("https://app.example.com/cb"));
        for other in [
            "https://app.example.com/cb/",
            "https://app.example.com/cb?x=1",
            "https://APP.example.com/cb",
            "https://app.example.com:444/cb",
            "https://app.example.com.evil.test/cb",
            "https://app.example.com/cb#",
        ] {
            assert!(!web.matches(other), "{other}");
        }
        let native = RedirectUri::parse("http://127.0.0.1/cb").unwrap();
        assert!(native.matches("http://127.0.0.1:53121/cb"));
        assert!(!native.matches("http://127.0.0.1:53121/other"));
        assert!(!native.matches("http://localhost:53121/cb"));
        assert!(!native.matches("https://127.0.0.1:53121/cb"));
        assert!(!native.matches("http://127.0.0.1:53121/cb?next=https://evil.test"));
    }
}
