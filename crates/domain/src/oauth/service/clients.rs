//! Registering and removing the OAuth clients, and finding one (built-in or registered).

use super::*;

/// A client to register, as an operator typed it.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub id: String,
    pub name: String,
    /// A public client (SPA, native app) has no secret and must use PKCE.
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub first_party: bool,
    /// May introspect tokens (an API that accepts gatehouse's tokens).
    pub resource_server: bool,
    /// May use the client credentials grant (a confidential client only). Such a client,
    /// or a resource server, needs no redirect URI.
    pub client_credentials: bool,
    /// May use the device authorization grant (public or confidential). Such a client
    /// needs no redirect URI either.
    pub device_code: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterClientError {
    #[error(transparent)]
    Invalid(ValidationErrors),
    #[error("a client with this id exists")]
    IdTaken,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

impl OAuthService {
    /// Registers a client. A confidential client's secret is returned once and stored
    /// only as its digest.
    pub async fn register_client(
        &self,
        input: NewClient,
    ) -> Result<(Client, Option<SecretString>), RegisterClientError> {
        let mut errors = ValidationErrors::new();
        let id = errors.check("id", ClientId::parse(&input.id));
        let name = errors.check("name", ClientName::parse(&input.name));
        let redirect_uris = errors.check(
            "redirect_uris",
            uris(
                &input.redirect_uris,
                !(input.client_credentials || input.resource_server || input.device_code),
            ),
        );
        let post_logout = errors.check(
            "post_logout_redirect_uris",
            uris(&input.post_logout_redirect_uris, false),
        );
        if input.public && input.resource_server {
            errors.add(
                "resource_server",
                "a resource server authenticates to introspect: it must be confidential, not public",
            );
        }
        if input.public && input.client_credentials {
            errors.add(
                "client_credentials",
                "the client credentials grant needs a secret: the client must be confidential, not public",
            );
        }
        let (Some(id), Some(name), Some(redirect_uris), Some(post_logout_redirect_uris)) =
            (id, name, redirect_uris, post_logout)
        else {
            return Err(RegisterClientError::Invalid(errors));
        };
        if !errors.is_empty() {
            return Err(RegisterClientError::Invalid(errors));
        }
        if self.built_in(id.as_str()).is_some() {
            return Err(RegisterClientError::IdTaken);
        }
        let secret = (!input.public).then(|| self.ports.opaque.generate());
        let kind = match &secret {
            Some(secret) => ClientKind::Confidential {
                secret: self.ports.opaque.digest(secret),
                retiring: None,
            },
            None => ClientKind::Public,
        };
        let client = Client {
            id,
            name,
            kind,
            redirect_uris,
            post_logout_redirect_uris,
            first_party: input.first_party,
            resource_server: input.resource_server,
            client_credentials: input.client_credentials,
            device_code: input.device_code,
            created_at: self.ports.clock.now_stored(),
        };
        match self.ports.clients.insert(&client).await {
            Ok(()) => {
                tracing::info!(client_id = %client.id, kind = client.kind.as_str(), "client registered");
                Ok((client, secret))
            }
            Err(InsertClientError::IdTaken) => Err(RegisterClientError::IdTaken),
            Err(InsertClientError::Repository(error)) => Err(error.into()),
        }
    }

    /// Every registered client (not the built-in ones).
    pub async fn clients(&self) -> Result<Vec<Client>, RepositoryError> {
        self.ports.clients.list().await
    }

    /// The registered client with this id (an id of the wrong shape is none).
    pub async fn registered_client(&self, id: &str) -> Result<Option<Client>, RepositoryError> {
        match ClientId::parse(id) {
            Ok(id) => self.ports.clients.find(&id).await,
            Err(_) => Ok(None),
        }
    }

    /// The client with this id, built-in or registered.
    pub async fn client(&self, id: &str) -> Result<Option<Client>, RepositoryError> {
        if let Some(client) = self.built_in(id) {
            return Ok(Some(client.clone()));
        }
        self.registered_client(id).await
    }

    fn built_in(&self, id: &str) -> Option<&Client> {
        self.policy.built_in.iter().find(|c| c.id.as_str() == id)
    }

    /// Removes a client: its codes go with it and its sessions are revoked at once.
    /// Returns whether it existed.
    pub async fn remove_client(&self, id: &str) -> Result<bool, RepositoryError> {
        let Ok(id) = ClientId::parse(id) else {
            return Ok(false);
        };
        if self.built_in(id.as_str()).is_some() {
            return Ok(false);
        }
        let revoked = self
            .ports
            .sessions
            .revoke_client(&id, self.ports.clock.now())
            .await?;
        let removed = self.ports.clients.delete(&id).await?;
        if removed {
            tracing::info!(client_id = %id, sessions_revoked = revoked, "client removed");
        }
        Ok(removed)
    }
}

/// The longest a rotated secret stays good beside its successor.
pub const MAX_SECRET_OVERLAP: chrono::Duration = chrono::Duration::days(30);

/// Why a secret was not rotated.
#[derive(Debug, thiserror::Error)]
pub enum RotateSecretError {
    #[error("no such registered client")]
    NotFound,
    /// A public client has no secret.
    #[error("a public client has no secret to rotate")]
    Public,
    #[error(transparent)]
    Invalid(ValidationErrors),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

impl OAuthService {
    /// Gives a confidential client a new secret, returned once with the time the one it
    /// replaces stops being accepted; the one it had stays good
    /// for `overlap` (at most [`MAX_SECRET_OVERLAP`]; zero ends it at once), so its
    /// servers can move to the new one. A secret retired by an earlier rotation ends now.
    /// Of two rotations at once, the later is the client's secret and the earlier retires.
    pub async fn rotate_secret(
        &self,
        id: &str,
        overlap: chrono::Duration,
    ) -> Result<(SecretString, DateTime<Utc>), RotateSecretError> {
        if overlap < chrono::Duration::zero() || overlap > MAX_SECRET_OVERLAP {
            let mut errors = ValidationErrors::new();
            errors.add("overlap_seconds", "must be from 0 to 30 days");
            return Err(RotateSecretError::Invalid(errors));
        }
        let Some(client) = self.registered_client(id).await? else {
            return Err(RotateSecretError::NotFound);
        };
        if matches!(client.kind, ClientKind::Public) {
            return Err(RotateSecretError::Public);
        }
        let secret = self.ports.opaque.generate();
        let now = self.ports.clock.now();
        let rotated = self
            .ports
            .clients
            .rotate_secret(
                &client.id,
                &self.ports.opaque.digest(&secret),
                now + overlap,
            )
            .await?;
        if !rotated {
            return Err(RotateSecretError::NotFound);
        }
        tracing::info!(client_id = %client.id, overlap_secs = overlap.num_seconds(), "client secret rotated");
        Ok((secret, now + overlap))
    }
}

#[derive(Debug, thiserror::Error)]
enum UriListError {
    #[error("must list at least one URI")]
    Empty,
    #[error("must list at most {MAX_REDIRECT_URIS} URIs")]
    TooMany,
    #[error("entry {0} {1}")]
    Invalid(usize, RedirectUriError),
}

fn uris(raw: &[String], required: bool) -> Result<Vec<RedirectUri>, UriListError> {
    if required && raw.is_empty() {
        return Err(UriListError::Empty);
    }
    if raw.len() > MAX_REDIRECT_URIS {
        return Err(UriListError::TooMany);
    }
    raw.iter()
        .enumerate()
        .map(|(i, uri)| RedirectUri::parse(uri).map_err(|e| UriListError::Invalid(i + 1, e)))
        .collect()
}
