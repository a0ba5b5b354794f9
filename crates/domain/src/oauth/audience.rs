//! A person's tokens for registered APIs (RFC 8707): the grants a session holds, which one
//! a token request names with `resource`, and the scopes its token carries at the moment
//! it is issued (the person's role, the client's access and the API's scopes as they are
//! then, never more than was granted).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::ports::ClientRepository;
pub use crate::apis::ApiGrant;
use crate::apis::{ApiRepository, ScopeName};
use crate::error::RepositoryError;
use crate::ports::{AccessTokenService, ApiAccessToken, ApiTokenClaims, TokenError, TokenSubject};
use crate::session::Session;
use crate::user::{Role, User};

/// What a token request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience<'a> {
    /// gatehouse's own API: the session's own scopes.
    Own,
    /// A registered API the session holds a grant for.
    Api(&'a ApiGrant),
}

/// The API a token request with these `resource` parameters is for, among a session's
/// `grants`: none named is the session's only API, or gatehouse's own when it holds none or
/// several; `own` (gatehouse's identifier) names gatehouse's own. `Err` says why none fits (RFC 8707
/// `invalid_target`).
pub fn choose<'a>(
    grants: &'a [ApiGrant],
    resources: &[String],
    own: &str,
) -> Result<Audience<'a>, &'static str> {
    match resources {
        // The default audience: the one API granted, else gatehouse's own.
        [] => match grants {
            [only] => Ok(Audience::Api(only)),
            _ => Ok(Audience::Own),
        },
        [one] if one.trim_end_matches('/') == own.trim_end_matches('/') => Ok(Audience::Own),
        [one] => grants
            .iter()
            .find(|grant| grant.audience.same_as(one))
            .map(Audience::Api)
            .ok_or("the session holds no grant for this resource"),
        _ => Err("a token is for one API: send one `resource`"),
    }
}

/// Why a token for a registered API was not issued.
#[derive(Debug, thiserror::Error)]
pub enum ApiTokenError {
    /// The API, or the client's access to it, is gone, or tokens for APIs cannot be
    /// signed here (RFC 8707 `invalid_target`).
    #[error("{0}")]
    Target(&'static str),
    /// A scope asked for beyond the grant (`invalid_scope`).
    #[error("{0}")]
    Scope(String),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Issues a person's tokens for registered APIs.
#[derive(Clone)]
pub struct ApiTokens {
    apis: Arc<dyn ApiRepository>,
    clients: Arc<dyn ClientRepository>,
    tokens: Arc<dyn AccessTokenService>,
}

impl ApiTokens {
    pub fn new(
        apis: Arc<dyn ApiRepository>,
        clients: Arc<dyn ClientRepository>,
        tokens: Arc<dyn AccessTokenService>,
    ) -> Self {
        Self {
            apis,
            clients,
            tokens,
        }
    }

    /// A token for `grant`'s API in `session` of `user`, whose scopes are `narrowed` (names
    /// of the grant's, space-separated) or the grant's, less any that `role` (the role
    /// scopes are judged by), the session's client or the API no longer allow. An API no
    /// longer registered, or a client that lost its access to it, gets no token.
    pub async fn issue(
        &self,
        user: &User,
        role: Role,
        session: &Session,
        grant: &ApiGrant,
        narrowed: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ApiAccessToken, ApiTokenError> {
        let asked = crate::apis::narrow(&grant.scopes, narrowed).map_err(|name| {
            ApiTokenError::Scope(format!("scope `{name}` was not granted for this API"))
        })?;
        if !self.tokens.signs_for_apis() {
            return Err(ApiTokenError::Target(
                "this server signs with a shared secret; tokens for other APIs need an asymmetric signing key",
            ));
        }
        let Some(api) = self.apis.find(&grant.audience).await? else {
            return Err(ApiTokenError::Target("the API is no longer registered"));
        };
        let client_scopes = match &session.client_id {
            None => None,
            Some(client) => match self
                .clients
                .api_access(client)
                .await?
                .into_iter()
                .find(|access| access.identifier == grant.audience)
            {
                Some(access) => Some(access.scopes),
                None => {
                    return Err(ApiTokenError::Target(
                        "the client no longer has access to this API",
                    ));
                }
            },
        };
        let mut scopes: Vec<ScopeName> = asked
            .into_iter()
            .filter(|name| {
                api.scopes
                    .iter()
                    .any(|scope| scope.name == *name && scope.roles.contains(&role))
                    && client_scopes
                        .as_ref()
                        .is_none_or(|held| held.contains(name))
            })
            .collect();
        scopes.sort();
        let token = self.tokens.issue_for_api(
            ApiTokenClaims {
                audience: grant.audience.as_str().to_owned(),
                subject: TokenSubject::User {
                    user_id: user.id,
                    session_id: session.id,
                    role: user.role,
                    amr: session.amr,
                },
                client_id: session.client_id.clone(),
                scopes,
                token_id: uuid::Uuid::nil(),
                issued_at: now,
                expires_at: now,
            },
            now,
        )?;
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::ApiIdentifier;

    fn grant(audience: &str) -> ApiGrant {
        ApiGrant {
            audience: ApiIdentifier::parse(audience).unwrap(),
            scopes: vec![ScopeName::parse("read").unwrap()],
        }
    }

    #[test]
    fn a_token_request_names_one_api_of_the_session_or_none() {
        let orders = grant("https://orders.example.com");
        let billing = grant("urn:example:billing");
        let one = [orders.clone()];
        let two = [orders.clone(), billing.clone()];
        let own = "gatehouse";
        assert_eq!(choose(&[], &[], own), Ok(Audience::Own));
        assert_eq!(choose(&one, &[], own), Ok(Audience::Api(&one[0])));
        assert_eq!(choose(&two, &[], own), Ok(Audience::Own));
        let named = |r: &str| vec![r.to_owned()];
        assert_eq!(
            choose(&two, &named("urn:example:billing"), own),
            Ok(Audience::Api(&two[1]))
        );
        assert_eq!(
            choose(&two, &named("https://orders.example.com/"), own),
            Ok(Audience::Api(&two[0]))
        );
        assert_eq!(choose(&one, &named("gatehouse"), own), Ok(Audience::Own));
        assert!(choose(&one, &named("urn:example:billing"), own).is_err());
        assert!(choose(&two, &[named(own), named("x")].concat(), own).is_err());
    }
}
