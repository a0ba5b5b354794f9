//! The domain's `ClientRepository` and `AuthorizationCodeRepository` on SeaORM.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_domain::apis::{ApiId, ApiIdentifier, ScopeName};
use gatehouse_domain::mfa::Amr;
use gatehouse_domain::oauth::{
    ApiAccess, AuthorizationCode, AuthorizationCodeRepository, Client, ClientId, ClientKind,
    ClientName, ClientRepository, CodeChallenge, InsertClientError, Nonce, Redemption, RedirectUri,
    RetiringSecret,
};
use gatehouse_domain::ports::TokenDigest;
use gatehouse_domain::upstream::ProviderId;
use gatehouse_domain::{RepositoryError, ScopeSet, SessionId, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    SqlErr, TransactionTrait,
};

use crate::database::Database;
use crate::entity::{
    apis, authorization_codes as codes, client_api_access as access_rows, oauth_clients as clients,
};
use crate::errors::{corrupt, storage};

/// Registered clients.
#[derive(Debug, Clone)]
pub struct SeaClientRepository {
    db: DatabaseConnection,
    /// Where writes go (see [`Database::writer`]).
    writer: DatabaseConnection,
}

impl SeaClientRepository {
    pub fn new(database: &Database) -> Self {
        Self {
            db: database.connection().clone(),
            writer: database.writer().clone(),
        }
    }
}

fn join(uris: &[RedirectUri]) -> String {
    uris.iter()
        .map(RedirectUri::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

fn split(id: &str, stored: &str) -> Result<Vec<RedirectUri>, RepositoryError> {
    stored
        .lines()
        .filter(|line| !line.is_empty())
        .map(|uri| RedirectUri::parse(uri).map_err(|e| corrupt("oauth_clients", id, e)))
        .collect()
}

fn client_to_domain(model: clients::Model) -> Result<Client, RepositoryError> {
    let row = model.id.clone();
    let corrupt = |e: &dyn std::fmt::Display| corrupt("oauth_clients", &row, e);
    Ok(Client {
        id: ClientId::parse(&model.id).map_err(|e| corrupt(&e))?,
        name: ClientName::parse(&model.name).map_err(|e| corrupt(&e))?,
        kind: match model.secret_hash {
            Some(hash) => ClientKind::Confidential {
                secret: TokenDigest::new(hash),
                retiring: match (model.previous_secret_hash, model.previous_secret_until) {
                    (Some(digest), Some(until)) => Some(RetiringSecret {
                        digest: TokenDigest::new(digest),
                        until,
                    }),
                    _ => None,
                },
            },
            None => ClientKind::Public,
        },
        redirect_uris: split(&row, &model.redirect_uris)?,
        post_logout_redirect_uris: split(&row, &model.post_logout_redirect_uris)?,
        first_party: model.first_party,
        resource_server: model.resource_server,
        client_credentials: model.client_credentials,
        device_code: model.device_code,
        created_at: model.created_at,
    })
}

#[async_trait]
impl ClientRepository for SeaClientRepository {
    #[tracing::instrument(skip_all, fields(client_id = %client.id))]
    async fn insert(&self, client: &Client) -> Result<(), InsertClientError> {
        let row = clients::ActiveModel {
            id: Set(client.id.as_str().to_owned()),
            name: Set(client.name.as_str().to_owned()),
            secret_hash: Set(match &client.kind {
                ClientKind::Confidential { secret, .. } => Some(secret.as_str().to_owned()),
                ClientKind::Public => None,
            }),
            previous_secret_hash: Set(None),
            previous_secret_until: Set(None),
            redirect_uris: Set(join(&client.redirect_uris)),
            post_logout_redirect_uris: Set(join(&client.post_logout_redirect_uris)),
            first_party: Set(client.first_party),
            resource_server: Set(client.resource_server),
            client_credentials: Set(client.client_credentials),
            device_code: Set(client.device_code),
            created_at: Set(client.created_at),
        };
        match clients::Entity::insert(row)
            .exec_without_returning(&self.writer)
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => match error.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => Err(InsertClientError::IdTaken),
                _ => Err(storage(error).into()),
            },
        }
    }

    #[tracing::instrument(skip_all, fields(client_id = %id))]
    async fn find(&self, id: &ClientId) -> Result<Option<Client>, RepositoryError> {
        clients::Entity::find_by_id(id.as_str().to_owned())
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(client_to_domain)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list(&self) -> Result<Vec<Client>, RepositoryError> {
        clients::Entity::find()
            .order_by_asc(clients::Column::Id)
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(client_to_domain)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(client_id = %id))]
    async fn delete(&self, id: &ClientId) -> Result<bool, RepositoryError> {
        // Codes first: SQLite enforces the foreign key only when told to.
        codes::Entity::delete_many()
            .filter(codes::Column::ClientId.eq(id.as_str()))
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        let deleted = clients::Entity::delete_by_id(id.as_str().to_owned())
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        Ok(deleted.rows_affected == 1)
    }

    #[tracing::instrument(skip_all, fields(client_id = %id))]
    async fn rotate_secret(
        &self,
        id: &ClientId,
        secret: &TokenDigest,
        retire_at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        // One statement: the column's old value is the retiring secret, whatever rotation
        // ran just before.
        let rotated = clients::Entity::update_many()
            .col_expr(
                clients::Column::PreviousSecretHash,
                Expr::col(clients::Column::SecretHash),
            )
            .col_expr(clients::Column::PreviousSecretUntil, Expr::value(retire_at))
            .col_expr(clients::Column::SecretHash, Expr::value(secret.as_str()))
            .filter(clients::Column::Id.eq(id.as_str()))
            .filter(clients::Column::SecretHash.is_not_null())
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        Ok(rotated.rows_affected == 1)
    }

    #[tracing::instrument(skip_all, fields(client_id = %id))]
    async fn set_api_access(
        &self,
        id: &ClientId,
        access: &[(ApiId, Vec<ScopeName>)],
    ) -> Result<bool, RepositoryError> {
        let txn = self.writer.begin().await.map_err(storage)?;
        let exists = clients::Entity::find_by_id(id.as_str().to_owned())
            .one(&txn)
            .await
            .map_err(storage)?
            .is_some();
        if !exists {
            return Ok(false);
        }
        access_rows::Entity::delete_many()
            .filter(access_rows::Column::ClientId.eq(id.as_str()))
            .exec(&txn)
            .await
            .map_err(storage)?;
        if !access.is_empty() {
            let rows = access.iter().map(|(api, scopes)| access_rows::ActiveModel {
                client_id: Set(id.as_str().to_owned()),
                api_id: Set(api.as_uuid()),
                scopes: Set(scopes
                    .iter()
                    .map(ScopeName::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")),
            });
            access_rows::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await
                .map_err(storage)?;
        }
        txn.commit().await.map_err(storage)?;
        Ok(true)
    }

    #[tracing::instrument(skip_all, fields(client_id = %id))]
    async fn api_access(&self, id: &ClientId) -> Result<Vec<ApiAccess>, RepositoryError> {
        let rows = access_rows::Entity::find()
            .filter(access_rows::Column::ClientId.eq(id.as_str()))
            .find_also_related(apis::Entity)
            .all(&self.db)
            .await
            .map_err(storage)?;
        let mut access = Vec::with_capacity(rows.len());
        for (row, api) in rows {
            // Deleted with its API: a row without one is being deleted now.
            let Some(api) = api else { continue };
            let identifier =
                ApiIdentifier::parse(&api.identifier).map_err(|e| corrupt("apis", api.id, e))?;
            access.push(ApiAccess {
                api: ApiId::from_uuid(row.api_id),
                identifier,
                scopes: row
                    .scopes
                    .split_ascii_whitespace()
                    .filter_map(|name| ScopeName::parse(name).ok())
                    .collect(),
            });
        }
        access.sort_by(|a, b| a.identifier.as_str().cmp(b.identifier.as_str()));
        Ok(access)
    }
}

/// Authorization codes, by digest.
#[derive(Debug, Clone)]
pub struct SeaAuthorizationCodeRepository {
    db: DatabaseConnection,
    /// Where writes go (see [`Database::writer`]).
    writer: DatabaseConnection,
}

impl SeaAuthorizationCodeRepository {
    pub fn new(database: &Database) -> Self {
        Self {
            db: database.connection().clone(),
            writer: database.writer().clone(),
        }
    }

    async fn find(&self, digest: &TokenDigest) -> Result<Option<codes::Model>, RepositoryError> {
        codes::Entity::find_by_id(digest.as_str().to_owned())
            .one(&self.db)
            .await
            .map_err(storage)
    }
}

fn code_to_domain(model: codes::Model) -> Result<AuthorizationCode, RepositoryError> {
    // A code's row is named by its session, never by the code's digest.
    let row = model.session_id;
    let corrupt = |e: &dyn std::fmt::Display| corrupt("authorization_codes", row, e);
    Ok(AuthorizationCode {
        client_id: ClientId::parse(&model.client_id).map_err(|e| corrupt(&e))?,
        redirect_uri: model.redirect_uri,
        user_id: UserId::from_uuid(model.user_id),
        scopes: ScopeSet::parse_granted(&model.scope),
        resources: crate::grants::read(&model.resources),
        code_challenge: model
            .code_challenge
            .map(|c| CodeChallenge::parse(&c).map_err(|e| corrupt(&e)))
            .transpose()?,
        nonce: model
            .nonce
            .map(|n| Nonce::parse(&n).map_err(|e| corrupt(&e)))
            .transpose()?,
        session_id: SessionId::from_uuid(model.session_id),
        browser_session_id: SessionId::from_uuid(model.browser_session_id),
        credential_version: model.credential_version,
        auth_time: model.auth_time,
        amr: Amr::parse(&model.amr),
        idp: model.idp.and_then(|id| ProviderId::parse(&id).ok()),
        expires_at: model.expires_at,
    })
}

#[async_trait]
impl AuthorizationCodeRepository for SeaAuthorizationCodeRepository {
    #[tracing::instrument(skip_all, fields(client_id = %code.client_id))]
    async fn insert(
        &self,
        digest: &TokenDigest,
        code: &AuthorizationCode,
    ) -> Result<(), RepositoryError> {
        let row = codes::ActiveModel {
            code_hash: Set(digest.as_str().to_owned()),
            client_id: Set(code.client_id.as_str().to_owned()),
            redirect_uri: Set(code.redirect_uri.clone()),
            user_id: Set(code.user_id.as_uuid()),
            scope: Set(code.scopes.to_string()),
            code_challenge: Set(code.code_challenge.as_ref().map(|c| c.as_str().to_owned())),
            nonce: Set(code.nonce.as_ref().map(|n| n.as_str().to_owned())),
            session_id: Set(code.session_id.as_uuid()),
            browser_session_id: Set(code.browser_session_id.as_uuid()),
            credential_version: Set(code.credential_version),
            auth_time: Set(code.auth_time),
            expires_at: Set(code.expires_at),
            redeemed_at: Set(None),
            replayed_at: Set(None),
            amr: Set(code.amr.as_str().to_owned()),
            idp: Set(code.idp.as_ref().map(ToString::to_string)),
            resources: Set(crate::grants::write(&code.resources)),
        };
        codes::Entity::insert(row)
            .exec_without_returning(&self.writer)
            .await
            .map_err(storage)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn redeem(
        &self,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<Redemption, RepositoryError> {
        // The compare-and-swap: of concurrent redemptions exactly one changes the row, and
        // reads it back in the same statement.
        let redeemed = codes::Entity::update_many()
            .col_expr(codes::Column::RedeemedAt, Expr::value(now))
            .filter(codes::Column::CodeHash.eq(digest.as_str()))
            .filter(codes::Column::RedeemedAt.is_null())
            .exec_with_returning(&self.writer)
            .await
            .map_err(storage)?;
        if let Some(model) = redeemed.into_iter().next() {
            return Ok(Redemption::Redeemed(code_to_domain(model)?));
        }
        let replayed = codes::Entity::update_many()
            .col_expr(codes::Column::ReplayedAt, Expr::value(now))
            .filter(codes::Column::CodeHash.eq(digest.as_str()))
            .exec_with_returning(&self.writer)
            .await
            .map_err(storage)?;
        match replayed.into_iter().next() {
            Some(model) => Ok(Redemption::Replayed(code_to_domain(model)?)),
            None => Ok(Redemption::Unknown),
        }
    }

    #[tracing::instrument(skip_all)]
    async fn replayed(&self, digest: &TokenDigest) -> Result<bool, RepositoryError> {
        Ok(self
            .find(digest)
            .await?
            .is_some_and(|model| model.replayed_at.is_some()))
    }

    #[tracing::instrument(skip_all)]
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError> {
        Ok(codes::Entity::delete_many()
            .filter(codes::Column::ExpiresAt.lt(before))
            .exec(&self.writer)
            .await
            .map_err(storage)?
            .rows_affected)
    }
}
