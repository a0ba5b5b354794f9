//! Clients on registered APIs: which APIs and scopes an admin lets a client ask for, and
//! the client credentials grant (RFC 6749 §4.4), a client's token for itself.

use super::*;
use crate::apis::{ApiIdentifier, MAX_SCOPES, ScopeName};
use crate::oauth::client::ApiAccess;
use crate::ports::{ApiAccessToken, ApiTokenClaims, TokenSubject};

/// How many APIs one client may be given access to.
pub const MAX_API_ACCESS: usize = 50;

/// One API a client is to be let ask for, as an operator typed it.
#[derive(Debug, Clone, Default)]
pub struct NewApiAccess {
    /// The registered API's identifier.
    pub identifier: String,
    /// Scope names of that API (at least one).
    pub scopes: Vec<String>,
}

/// Why a client's API access was not set.
#[derive(Debug, thiserror::Error)]
pub enum ApiAccessError {
    #[error("no such registered client")]
    NotFound,
    #[error(transparent)]
    Invalid(ValidationErrors),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// A `grant_type=client_credentials` request.
#[derive(Debug, Default)]
pub struct ClientCredentialsRequest {
    pub client: ClientCredentials,
    /// The `resource` parameters (RFC 8707): the API the token is for. None names the
    /// client's only API, when it has exactly one.
    pub resources: Vec<String>,
    /// Space-separated scopes of that API; none asks for all the client was granted.
    pub scope: Option<String>,
}

impl OAuthService {
    /// Replaces what the client may ask for on registered APIs: each identifier must be a
    /// registered API's, named once, with at least one of its scopes. Returns the access
    /// now stored.
    pub async fn set_api_access(
        &self,
        id: &str,
        access: Vec<NewApiAccess>,
    ) -> Result<Vec<ApiAccess>, ApiAccessError> {
        let Some(client) = self.registered_client(id).await? else {
            return Err(ApiAccessError::NotFound);
        };
        let mut errors = ValidationErrors::new();
        if access.len() > MAX_API_ACCESS {
            errors.add("apis", format!("must list at most {MAX_API_ACCESS} APIs"));
            return Err(ApiAccessError::Invalid(errors));
        }
        let mut resolved = Vec::with_capacity(access.len());
        for (index, entry) in access.iter().enumerate() {
            let n = index + 1;
            let api = match ApiIdentifier::parse(&entry.identifier) {
                Ok(identifier) => self.ports.apis.find(&identifier).await?,
                Err(_) => None,
            };
            let Some(api) = api else {
                errors.add(
                    "apis",
                    format!("entry {n}: no registered API has this identifier"),
                );
                continue;
            };
            if resolved.iter().any(|(id, _)| *id == api.id) {
                errors.add("apis", format!("entry {n}: names an API named before"));
                continue;
            }
            if entry.scopes.is_empty() || entry.scopes.len() > MAX_SCOPES {
                errors.add(
                    "apis",
                    format!("entry {n}: must list 1 to {MAX_SCOPES} of the API's scopes"),
                );
                continue;
            }
            let mut scopes: Vec<ScopeName> = Vec::with_capacity(entry.scopes.len());
            for raw in &entry.scopes {
                match api.scopes.iter().find(|scope| scope.name.as_str() == raw) {
                    Some(scope) if !scopes.contains(&scope.name) => scopes.push(scope.name.clone()),
                    Some(_) => {}
                    None => errors.add(
                        "apis",
                        format!("entry {n}: the API has no scope named `{}`", printable(raw)),
                    ),
                }
            }
            scopes.sort();
            resolved.push((api.id, scopes));
        }
        if !errors.is_empty() {
            return Err(ApiAccessError::Invalid(errors));
        }
        if !self
            .ports
            .clients
            .set_api_access(&client.id, &resolved)
            .await?
        {
            return Err(ApiAccessError::NotFound);
        }
        tracing::info!(client_id = %client.id, apis = resolved.len(), "client API access set");
        Ok(self.ports.clients.api_access(&client.id).await?)
    }

    /// What the registered client may ask for on APIs; `None` when there is no such
    /// client.
    pub async fn api_access(&self, id: &str) -> Result<Option<Vec<ApiAccess>>, RepositoryError> {
        match self.registered_client(id).await? {
            Some(client) => self.ports.clients.api_access(&client.id).await.map(Some),
            None => Ok(None),
        }
    }

    /// The client credentials grant: a confidential client an admin allowed, authenticated
    /// (and throttled) as at every token request, gets a token for itself on the API it
    /// names, with the scopes it asks for among those it was granted there. No refresh
    /// token: it asks again. Each token is audited.
    #[tracing::instrument(skip_all)]
    pub async fn client_credentials_grant(
        &self,
        request: ClientCredentialsRequest,
        caller: &Caller,
    ) -> Result<ApiAccessToken, ExchangeError> {
        let client = self.authenticate_client(&request.client, caller).await?;
        if client.is_public() || !client.client_credentials {
            return Err(ExchangeError::UnauthorizedClient(
                "this client may not use the client credentials grant",
            ));
        }
        let access = self.ports.clients.api_access(&client.id).await?;
        let granted = match request.resources.as_slice() {
            [] => match access.as_slice() {
                [only] => only,
                [] => {
                    return Err(ExchangeError::InvalidTarget(
                        "the client has access to no API".into(),
                    ));
                }
                _ => {
                    return Err(ExchangeError::InvalidTarget(
                        "the client has access to several APIs: name one with `resource`".into(),
                    ));
                }
            },
            [resource] => access
                .iter()
                .find(|granted| granted.identifier.same_as(resource))
                .ok_or_else(|| {
                    ExchangeError::InvalidTarget("the client has no access to this resource".into())
                })?,
            _ => {
                return Err(ExchangeError::InvalidTarget(
                    "a client's token is for one API: send one `resource`".into(),
                ));
            }
        };
        let scopes =
            crate::apis::narrow(&granted.scopes, request.scope.as_deref()).map_err(|name| {
                ExchangeError::InvalidScope(format!(
                    "the client was not granted scope `{name}` on this API"
                ))
            })?;
        if !self.ports.tokens.signs_for_apis() {
            return Err(ExchangeError::InvalidTarget(
                "this server signs with a shared secret; tokens for other APIs need an asymmetric signing key".into(),
            ));
        }
        let token = self.ports.tokens.issue_for_api(
            ApiTokenClaims {
                audience: granted.identifier.as_str().to_owned(),
                subject: TokenSubject::Client,
                client_id: Some(client.id.clone()),
                scopes,
                token_id: uuid::Uuid::nil(),
                issued_at: self.ports.clock.now(),
                expires_at: self.ports.clock.now(),
            },
            self.ports.clock.now(),
        )?;
        let detail = format!(
            "client {} for {}: {}",
            client.id,
            granted.identifier.as_str(),
            token.claims.scope()
        );
        self.ports
            .audit
            .record(
                AuditKind::ClientTokenIssued,
                None,
                None,
                caller,
                Some(detail),
            )
            .await;
        tracing::info!(client_id = %client.id, api = granted.identifier.as_str(), "client token issued");
        Ok(token)
    }
}

/// Up to 64 characters of what a client sent, control characters replaced, for an error
/// message that quotes it.
fn printable(raw: &str) -> String {
    raw.chars()
        .take(64)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

impl OAuthService {
    /// What a token for a registered API is worth right now (RFC 7662), or `None` when it
    /// is no live one: it must verify, be for an API still registered and, for a client's
    /// token, its client must still have the grant and access to that API; for a person's,
    /// the session and account must be as a request to gatehouse's own API would need.
    pub async fn introspect_api_token(
        &self,
        token: &SecretString,
    ) -> Result<Option<ApiTokenClaims>, RepositoryError> {
        let now = self.ports.clock.now();
        let Ok(claims) = self.ports.tokens.verify_for_api(token.expose_secret(), now) else {
            return Ok(None);
        };
        let Ok(audience) = ApiIdentifier::parse(&claims.audience) else {
            return Ok(None);
        };
        if self.ports.apis.find(&audience).await?.is_none() {
            return Ok(None);
        }
        let live = match &claims.subject {
            TokenSubject::Client => match &claims.client_id {
                Some(id) => {
                    let client = self.ports.clients.find(id).await?;
                    let allowed = client.is_some_and(|c| c.client_credentials);
                    allowed
                        && self
                            .ports
                            .clients
                            .api_access(id)
                            .await?
                            .iter()
                            .any(|access| access.identifier == audience)
                }
                None => false,
            },
            TokenSubject::User {
                user_id,
                session_id,
                ..
            } => match self.ports.sessions.find_with_user(*session_id).await? {
                Some((session, user)) => {
                    session.user_id == *user_id
                        && session.is_live(now)
                        && user.is_active
                        && session.opened_under(&user)
                        && claims.issued_at >= user.password_changed_at
                }
                None => false,
            },
        };
        Ok(live.then_some(claims))
    }
}
