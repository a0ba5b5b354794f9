//! The hosted pages' cookies: their names and flags, and how each is built.

use actix_web::cookie::{Cookie, SameSite};
use rand::RngCore;

/// The names of the hosted pages' cookies: `__Host-` prefixed (which requires `Secure`)
/// when browsers come over TLS.
#[derive(Debug, Clone)]
pub struct Cookies {
    pub session: &'static str,
    pub csrf: &'static str,
    /// An upstream identity offered for linking, until the account's owner confirms.
    pub link: &'static str,
    pub secure: bool,
}

impl Cookies {
    pub fn new(secure: bool) -> Self {
        if secure {
            Self {
                session: "__Host-gatehouse-session",
                csrf: "__Host-gatehouse-csrf",
                link: "__Host-gatehouse-link",
                secure,
            }
        } else {
            Self {
                session: "gatehouse-session",
                csrf: "gatehouse-csrf",
                link: "gatehouse-link",
                secure,
            }
        }
    }

    pub fn build(&self, name: &'static str, value: String) -> Cookie<'static> {
        Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .finish()
    }

    /// A new random browser secret for CSRF tokens, and its cookie: set on a browser's
    /// first page, and renewed at sign-in and sign-out.
    pub fn new_browser_secret(&self) -> (String, Cookie<'static>) {
        use base64::Engine as _;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let cookie = self.build(self.csrf, secret.clone());
        (secret, cookie)
    }

    pub fn removal(&self, name: &'static str) -> Cookie<'static> {
        let mut cookie = self.build(name, String::new());
        cookie.make_removal();
        cookie
    }
}
