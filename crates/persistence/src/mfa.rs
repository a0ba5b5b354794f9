//! The domain's `MfaRepository` on SeaORM: authenticators, recovery codes and sign-in
//! challenges. Every "use once" is a conditional update whose row count decides, so two
//! racing requests cannot both use one code, step or challenge.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_domain::mfa::{Challenge, ChallengeFor, MfaCredential, MfaRepository, SealedSecret};
use gatehouse_domain::ports::TokenDigest;
use gatehouse_domain::session::Amr;
use gatehouse_domain::upstream::ProviderId;
use gatehouse_domain::{RepositoryError, ScopeSet, UserId};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect, TransactionTrait,
};

use crate::database::Database;
use crate::entity::{
    mfa_challenges as challenges, mfa_credentials as credentials, mfa_recovery_codes as codes,
};
use crate::errors::storage;

const TOKENS: &str = "tokens";
const BROWSER: &str = "browser";
/// A browser sign-in whose first factor was an upstream provider's.
const BROWSER_UPSTREAM: &str = "browser_idp";

#[derive(Debug, Clone)]
pub struct SeaMfaRepository {
    db: DatabaseConnection,
    /// Where writes go (see [`Database::writer`]).
    writer: DatabaseConnection,
}

impl SeaMfaRepository {
    pub fn new(database: &Database) -> Self {
        Self {
            db: database.connection().clone(),
            writer: database.writer().clone(),
        }
    }
}

fn code_rows(user: UserId, digests: &[TokenDigest], now: DateTime<Utc>) -> Vec<codes::ActiveModel> {
    digests
        .iter()
        .map(|digest| codes::ActiveModel {
            code_hash: Set(digest.as_str().to_owned()),
            user_id: Set(user.as_uuid()),
            used_at: Set(None),
            created_at: Set(now),
        })
        .collect()
}

#[async_trait]
impl MfaRepository for SeaMfaRepository {
    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn find(&self, user: UserId) -> Result<Option<MfaCredential>, RepositoryError> {
        Ok(credentials::Entity::find_by_id(user.as_uuid())
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(|row| MfaCredential {
                user_id: UserId::from_uuid(row.user_id),
                sealed: SealedSecret::new(row.secret),
                confirmed_at: row.confirmed_at,
                last_step: row.last_step,
                created_at: row.created_at,
            }))
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn start(
        &self,
        user: UserId,
        sealed: &SealedSecret,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let row = credentials::ActiveModel {
            user_id: Set(user.as_uuid()),
            secret: Set(sealed.as_str().to_owned()),
            confirmed_at: Set(None),
            last_step: Set(None),
            created_at: Set(now),
        };
        // One statement: a pending row is replaced, a confirmed one left alone.
        let conflict = OnConflict::column(credentials::Column::UserId)
            .update_columns([
                credentials::Column::Secret,
                credentials::Column::LastStep,
                credentials::Column::CreatedAt,
            ])
            .action_and_where(
                Expr::col((credentials::Entity, credentials::Column::ConfirmedAt)).is_null(),
            )
            .to_owned();
        let stored = credentials::Entity::insert(row)
            .on_conflict(conflict)
            .exec_without_returning(&self.writer)
            .await
            .map_err(storage)?;
        Ok(stored == 1)
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn confirm(
        &self,
        user: UserId,
        sealed: &SealedSecret,
        step: i64,
        digests: &[TokenDigest],
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let txn = self.writer.begin().await.map_err(storage)?;
        let confirmed = credentials::Entity::update_many()
            .col_expr(credentials::Column::ConfirmedAt, Expr::value(now))
            .col_expr(credentials::Column::LastStep, Expr::value(step))
            .filter(credentials::Column::UserId.eq(user.as_uuid()))
            .filter(credentials::Column::Secret.eq(sealed.as_str()))
            .filter(credentials::Column::ConfirmedAt.is_null())
            .exec(&txn)
            .await
            .map_err(storage)?
            .rows_affected
            == 1;
        if !confirmed {
            return Ok(false);
        }
        codes::Entity::delete_many()
            .filter(codes::Column::UserId.eq(user.as_uuid()))
            .exec(&txn)
            .await
            .map_err(storage)?;
        codes::Entity::insert_many(code_rows(user, digests, now))
            .exec_without_returning(&txn)
            .await
            .map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        Ok(true)
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn use_step(
        &self,
        user: UserId,
        step: i64,
        resealed: Option<&SealedSecret>,
    ) -> Result<bool, RepositoryError> {
        let mut update = credentials::Entity::update_many()
            .col_expr(credentials::Column::LastStep, Expr::value(step));
        if let Some(resealed) = resealed {
            update = update.col_expr(
                credentials::Column::Secret,
                Expr::value(resealed.as_str().to_owned()),
            );
        }
        Ok(update
            .filter(credentials::Column::UserId.eq(user.as_uuid()))
            .filter(credentials::Column::ConfirmedAt.is_not_null())
            .filter(
                Condition::any()
                    .add(credentials::Column::LastStep.is_null())
                    .add(credentials::Column::LastStep.lt(step)),
            )
            .exec(&self.writer)
            .await
            .map_err(storage)?
            .rows_affected
            == 1)
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn use_recovery_code(
        &self,
        user: UserId,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        Ok(codes::Entity::update_many()
            .col_expr(codes::Column::UsedAt, Expr::value(now))
            .filter(codes::Column::CodeHash.eq(digest.as_str()))
            .filter(codes::Column::UserId.eq(user.as_uuid()))
            .filter(codes::Column::UsedAt.is_null())
            .exec(&self.writer)
            .await
            .map_err(storage)?
            .rows_affected
            == 1)
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn replace_recovery_codes(
        &self,
        user: UserId,
        digests: &[TokenDigest],
        now: DateTime<Utc>,
    ) -> Result<(), RepositoryError> {
        let txn = self.writer.begin().await.map_err(storage)?;
        codes::Entity::delete_many()
            .filter(codes::Column::UserId.eq(user.as_uuid()))
            .exec(&txn)
            .await
            .map_err(storage)?;
        codes::Entity::insert_many(code_rows(user, digests, now))
            .exec_without_returning(&txn)
            .await
            .map_err(storage)?;
        txn.commit().await.map_err(storage)
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, RepositoryError> {
        let left = codes::Entity::find()
            .filter(codes::Column::UserId.eq(user.as_uuid()))
            .filter(codes::Column::UsedAt.is_null())
            .count(&self.db)
            .await
            .map_err(storage)?;
        Ok(u32::try_from(left).unwrap_or(u32::MAX))
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn remove(&self, user: UserId) -> Result<bool, RepositoryError> {
        let txn = self.writer.begin().await.map_err(storage)?;
        let removed = credentials::Entity::delete_many()
            .filter(credentials::Column::UserId.eq(user.as_uuid()))
            .filter(credentials::Column::ConfirmedAt.is_not_null())
            .exec(&txn)
            .await
            .map_err(storage)?
            .rows_affected
            == 1;
        credentials::Entity::delete_many()
            .filter(credentials::Column::UserId.eq(user.as_uuid()))
            .exec(&txn)
            .await
            .map_err(storage)?;
        codes::Entity::delete_many()
            .filter(codes::Column::UserId.eq(user.as_uuid()))
            .exec(&txn)
            .await
            .map_err(storage)?;
        challenges::Entity::delete_many()
            .filter(challenges::Column::UserId.eq(user.as_uuid()))
            .exec(&txn)
            .await
            .map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        Ok(removed)
    }

    #[tracing::instrument(skip_all)]
    async fn enabled_among(&self, users: &[UserId]) -> Result<HashSet<UserId>, RepositoryError> {
        if users.is_empty() {
            return Ok(HashSet::new());
        }
        let ids: Vec<uuid::Uuid> = credentials::Entity::find()
            .select_only()
            .column(credentials::Column::UserId)
            .filter(credentials::Column::UserId.is_in(users.iter().map(|id| id.as_uuid())))
            .filter(credentials::Column::ConfirmedAt.is_not_null())
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        Ok(ids.into_iter().map(UserId::from_uuid).collect())
    }

    #[tracing::instrument(skip_all)]
    async fn create_challenge(
        &self,
        digest: &TokenDigest,
        challenge: &Challenge,
    ) -> Result<(), RepositoryError> {
        let (kind, scope, client_id) = match &challenge.purpose {
            ChallengeFor::Tokens { scopes, client_id } => {
                (TOKENS, scopes.to_string(), client_id.clone())
            }
            // For a browser sign-in, the client column holds the upstream provider.
            ChallengeFor::Browser {
                first: Amr::Upstream | Amr::UpstreamOtp,
                idp,
            } => (
                BROWSER_UPSTREAM,
                String::new(),
                idp.as_ref().map(ToString::to_string),
            ),
            ChallengeFor::Browser { .. } => (BROWSER, String::new(), None),
        };
        let row = challenges::ActiveModel {
            token_hash: Set(digest.as_str().to_owned()),
            user_id: Set(challenge.user_id.as_uuid()),
            kind: Set(kind.to_owned()),
            scope: Set(scope),
            client_id: Set(client_id),
            credential_version: Set(challenge.credential_version),
            expires_at: Set(challenge.expires_at),
            redeemed_at: Set(None),
        };
        challenges::Entity::insert(row)
            .exec_without_returning(&self.writer)
            .await
            .map_err(storage)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn find_challenge(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<Challenge>, RepositoryError> {
        Ok(challenges::Entity::find_by_id(digest.as_str().to_owned())
            .filter(challenges::Column::RedeemedAt.is_null())
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(|row| Challenge {
                user_id: UserId::from_uuid(row.user_id),
                purpose: if row.kind == BROWSER {
                    ChallengeFor::Browser {
                        first: Amr::Password,
                        idp: None,
                    }
                } else if row.kind == BROWSER_UPSTREAM {
                    ChallengeFor::Browser {
                        first: Amr::Upstream,
                        idp: row
                            .client_id
                            .as_deref()
                            .and_then(|id| ProviderId::parse(id).ok()),
                    }
                } else {
                    ChallengeFor::Tokens {
                        scopes: ScopeSet::parse_granted(&row.scope),
                        client_id: row.client_id,
                    }
                },
                credential_version: row.credential_version,
                expires_at: row.expires_at,
            }))
    }

    #[tracing::instrument(skip_all)]
    async fn redeem_challenge(
        &self,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        Ok(challenges::Entity::update_many()
            .col_expr(challenges::Column::RedeemedAt, Expr::value(now))
            .filter(challenges::Column::TokenHash.eq(digest.as_str()))
            .filter(challenges::Column::RedeemedAt.is_null())
            .exec(&self.writer)
            .await
            .map_err(storage)?
            .rows_affected
            == 1)
    }

    #[tracing::instrument(skip_all)]
    async fn purge_challenges(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError> {
        Ok(challenges::Entity::delete_many()
            .filter(challenges::Column::ExpiresAt.lt(before))
            .exec(&self.writer)
            .await
            .map_err(storage)?
            .rows_affected)
    }
}
