//! Asking gatehouse whether a token is still live (RFC 7662), for endpoints that must see a
//! revocation at once; answers kept a few seconds, by token id.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::keys::{KeyCache, KeyError};

/// The credentials of a client gatehouse lets introspect (an admin registered it as a
/// resource server), and how long an answer is kept.
#[derive(Clone)]
pub struct Introspection {
    pub client_id: String,
    pub client_secret: String,
    /// How long an answer is trusted (default 5 seconds): a revocation is seen at most
    /// this late.
    pub cache_for: Duration,
}

impl Introspection {
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            cache_for: Duration::from_secs(5),
        }
    }

    pub fn cache_for(mut self, cache_for: Duration) -> Self {
        self.cache_for = cache_for;
        self
    }
}

impl std::fmt::Debug for Introspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Introspection")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("cache_for", &self.cache_for)
            .finish()
    }
}

/// Answers already had, by token id, bounded.
pub(crate) struct Introspector {
    settings: Introspection,
    answers: Mutex<HashMap<String, (bool, Instant)>>,
}

/// Past this many kept answers, the expired ones are dropped (and all, if none expired).
const KEPT: usize = 10_000;

impl Introspector {
    pub(crate) fn new(settings: Introspection) -> Self {
        Self {
            settings,
            answers: Mutex::new(HashMap::new()),
        }
    }

    /// Whether gatehouse says `token` (whose id is `jti`, when it has one) is live.
    pub(crate) async fn active(
        &self,
        keys: &KeyCache,
        token: &str,
        jti: Option<&str>,
    ) -> Result<bool, KeyError> {
        if let Some(jti) = jti
            && let Some((active, at)) = self.answers.lock().expect("answers").get(jti).copied()
            && at.elapsed() < self.settings.cache_for
        {
            return Ok(active);
        }
        let endpoint = keys
            .discovery()
            .await?
            .introspection_endpoint
            .ok_or_else(|| {
                KeyError::Unusable("the issuer names no introspection endpoint".into())
            })?;
        #[derive(Deserialize)]
        struct Answer {
            active: bool,
        }
        let answer: Answer = keys
            .http()
            .post(&endpoint)
            .basic_auth(&self.settings.client_id, Some(&self.settings.client_secret))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|error| KeyError::Fetch(error.without_url().to_string()))
            .map(crate::keys::read_json::<Answer>)?
            .await?;
        if let Some(jti) = jti {
            let mut answers = self.answers.lock().expect("answers");
            if answers.len() >= KEPT {
                let ttl = self.settings.cache_for;
                answers.retain(|_, (_, at)| at.elapsed() < ttl);
                if answers.len() >= KEPT {
                    answers.clear();
                }
            }
            answers.insert(jti.to_owned(), (answer.active, Instant::now()));
        }
        Ok(answer.active)
    }
}
