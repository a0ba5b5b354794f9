//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): judging where the
//! browser may be sent afterwards, and whom the request names.

use super::*;

/// An RP-initiated logout request (OpenID Connect RP-Initiated Logout 1.0 §2), as sent.
#[derive(Debug, Clone, Default)]
pub struct LogoutRequest {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

/// What a logout request asks for, once judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logout {
    /// The user a valid `id_token_hint` names: the browser may be signed out without asking.
    pub hinted_user: Option<crate::user::UserId>,
    /// Where to send the browser afterwards: a registered post-logout URI, with `state`.
    pub redirect: Option<String>,
}

/// Why a logout request was refused (shown to the person; nothing is redirected).
#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

impl OAuthService {
    /// Judges an RP-initiated logout: the hint must be an ID token we signed, the client
    /// (named by the hint or `client_id`, which must agree) must be registered, and a
    /// `post_logout_redirect_uri` must be one it registered, exactly.
    pub async fn logout(&self, request: LogoutRequest) -> Result<Logout, LogoutError> {
        let hint = match request.id_token_hint.as_deref() {
            Some(token) => Some(self.ports.id_tokens.id_token_subject(token).ok_or(
                LogoutError::Invalid("The `id_token_hint` is not an ID token of this server."),
            )?),
            None => None,
        };
        let client_id = match (&hint, request.client_id.as_deref()) {
            (Some((_, aud)), Some(named)) if aud.as_str() != named => {
                return Err(LogoutError::Invalid(
                    "`client_id` differs from the audience of the `id_token_hint`.",
                ));
            }
            (Some((_, aud)), _) => Some(aud.as_str().to_owned()),
            (None, named) => named.map(str::to_owned),
        };
        let redirect = match request.post_logout_redirect_uri.as_deref() {
            None => None,
            Some(uri) => {
                let client = match client_id.as_deref() {
                    Some(id) => self.client(id).await?,
                    None => None,
                }
                .ok_or(LogoutError::Invalid(
                    "A `post_logout_redirect_uri` needs the client: send `id_token_hint` or `client_id`.",
                ))?;
                let registered =
                    client
                        .post_logout_redirect_uri(uri)
                        .ok_or(LogoutError::Invalid(
                            "The `post_logout_redirect_uri` is not one the client registered.",
                        ))?;
                let state = request.state.as_deref().and_then(|s| State::parse(s).ok());
                let mut url = Url::parse(registered.as_str())
                    .map_err(|_| LogoutError::Invalid("The registered URI cannot be used."))?;
                if let Some(state) = state {
                    url.query_pairs_mut().append_pair("state", state.as_str());
                }
                Some(url.into())
            }
        };
        Ok(Logout {
            hinted_user: hint.map(|(user, _)| user),
            redirect,
        })
    }
}
