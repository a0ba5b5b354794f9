//! The domain's `PersonalTokenRepository` on SeaORM: personal access tokens are rows of
//! `sessions` of kind `personal`, found by their digest (`browser_token_hash`).

use std::num::NonZeroUsize;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use gatehouse_domain::personal::{PersonalToken, PersonalTokenRepository};
use gatehouse_domain::ports::TokenDigest;
use gatehouse_domain::{RepositoryError, SessionId, SessionKind, UserId};
use lru::LruCache;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::database::Database;
use crate::entity::sessions::{self, Column, Entity};
use crate::errors::storage;

/// Digests and use records kept in memory, at most.
const KEPT: usize = 10_000;

pub(crate) struct SeaPersonalTokens {
    db: DatabaseConnection,
    writer: DatabaseConnection,
    /// Which token a digest belongs to. A token's digest never changes, so an answer
    /// stays right for good; whether the token is still live is the session check's
    /// question, answered (and forgotten on writes) by the session cache.
    ids: Mutex<LruCache<String, SessionId>>,
    /// When this process last tried to record each token's use: it tries again only a
    /// gap later, so a busy token costs a write a minute, not one per request.
    tried: Mutex<LruCache<SessionId, DateTime<Utc>>>,
}

impl SeaPersonalTokens {
    pub(crate) fn new(database: &Database) -> Self {
        let kept = NonZeroUsize::new(KEPT).unwrap_or(NonZeroUsize::MIN);
        Self {
            db: database.connection().clone(),
            writer: database.writer().clone(),
            ids: Mutex::new(LruCache::new(kept)),
            tried: Mutex::new(LruCache::new(kept)),
        }
    }
}

fn personal() -> Condition {
    Condition::all().add(Column::Kind.eq(SessionKind::Personal.as_str()))
}

fn to_token(model: sessions::Model) -> Result<PersonalToken, RepositoryError> {
    let name = model.name.clone().unwrap_or_default();
    let (used_at, used_ip) = (model.used_at, model.used_ip.clone());
    Ok(PersonalToken {
        session: crate::sessions::to_domain(model)?,
        name,
        used_at,
        used_ip,
    })
}

#[async_trait]
impl PersonalTokenRepository for SeaPersonalTokens {
    #[tracing::instrument(skip_all, fields(token_id = %token.id()))]
    async fn create(
        &self,
        token: &PersonalToken,
        digest: &TokenDigest,
    ) -> Result<(), RepositoryError> {
        let mut row = crate::sessions::to_active_model(&token.session);
        row.browser_token_hash = Set(Some(digest.as_str().to_owned()));
        row.name = Set(Some(token.name.clone()));
        Entity::insert(row)
            .exec_without_returning(&self.writer)
            .await
            .map_err(storage)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn find(&self, digest: &TokenDigest) -> Result<Option<SessionId>, RepositoryError> {
        if let Some(id) = self
            .ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(digest.as_str())
        {
            return Ok(Some(*id));
        }
        let id: Option<uuid::Uuid> = Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::BrowserTokenHash.eq(digest.as_str()))
            .filter(personal())
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(storage)?;
        let id = id.map(SessionId::from_uuid);
        if let Some(id) = id {
            self.ids
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .put(digest.as_str().to_owned(), id);
        }
        Ok(id)
    }

    #[tracing::instrument(skip_all)]
    async fn list(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<PersonalToken>, RepositoryError> {
        Entity::find()
            .filter(Column::UserId.eq(user.as_uuid()))
            .filter(personal())
            .filter(Column::RevokedAt.is_null())
            .filter(Column::AbsoluteExpiresAt.gt(now))
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(to_token)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(token_id = %id))]
    async fn record_use(
        &self,
        id: SessionId,
        ip: Option<&str>,
        now: DateTime<Utc>,
        gap: Duration,
    ) -> Result<bool, RepositoryError> {
        {
            let mut tried = self.tried.lock().unwrap_or_else(|e| e.into_inner());
            if tried.get(&id).is_some_and(|at| now - *at < gap) {
                return Ok(false);
            }
            tried.put(id, now);
        }
        // The compare-and-swap: of uses racing each other (here or on another instance),
        // the one whose update finds the last record a gap old records.
        let mut update = Entity::update_many().col_expr(Column::UsedAt, Expr::value(now));
        if let Some(ip) = ip {
            update = update.col_expr(Column::UsedIp, Expr::value(ip));
        }
        let result = update
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(personal())
            .filter(
                Condition::any()
                    .add(Column::UsedAt.is_null())
                    .add(Column::UsedAt.lte(now - gap)),
            )
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        Ok(result.rows_affected == 1)
    }
}
