//! The domain's `ActionTokenRepository` on SeaORM.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_domain::ports::TokenDigest;
use gatehouse_domain::recovery::{ActionToken, ActionTokenRepository, TokenPurpose};
use gatehouse_domain::{Email, RepositoryError, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter};

use crate::database::Database;
use crate::entity::action_tokens::{Column, Entity};
use crate::errors::{corrupt, storage};

#[derive(Debug, Clone)]
pub struct SeaActionTokenRepository {
    db: DatabaseConnection,
    /// Where writes go (see [`Database::writer`]).
    writer: DatabaseConnection,
}

impl SeaActionTokenRepository {
    pub fn new(database: &Database) -> Self {
        Self {
            db: database.connection().clone(),
            writer: database.writer().clone(),
        }
    }
}

/// Unused tokens of `purpose` that are still valid at `now`.
fn usable(digest: &TokenDigest, purpose: TokenPurpose, now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(Column::TokenHash.eq(digest.as_str()))
        .add(Column::Purpose.eq(purpose.as_str()))
        .add(Column::UsedAt.is_null())
        .add(Column::ExpiresAt.gt(now))
}

#[async_trait]
impl ActionTokenRepository for SeaActionTokenRepository {
    #[tracing::instrument(skip_all)]
    async fn find_usable(
        &self,
        digest: &TokenDigest,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<ActionToken>, RepositoryError> {
        let Some(model) = Entity::find()
            .filter(usable(digest, purpose, now))
            .one(&self.db)
            .await
            .map_err(storage)?
        else {
            return Ok(None);
        };
        let email = Email::parse(&model.email)
            .map_err(|error| corrupt("action_tokens", model.user_id, error))?;
        Ok(Some(ActionToken {
            digest: TokenDigest::new(model.token_hash),
            user_id: UserId::from_uuid(model.user_id),
            purpose,
            email,
            created_at: model.created_at,
            expires_at: model.expires_at,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn consume(
        &self,
        digest: &TokenDigest,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let result = Entity::update_many()
            .col_expr(Column::UsedAt, Expr::value(now))
            .filter(usable(digest, purpose, now))
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        Ok(result.rows_affected == 1)
    }

    #[tracing::instrument(skip_all)]
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError> {
        let result = Entity::delete_many()
            .filter(
                Condition::any()
                    .add(Column::ExpiresAt.lt(before))
                    .add(Column::UsedAt.lt(before)),
            )
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        Ok(result.rows_affected)
    }
}
