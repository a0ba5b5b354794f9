//! The domain's `MailQueue` on SeaORM: emails stored sealed, each with the token its link
//! carries in the same transaction, held by one worker at a time (`FOR UPDATE SKIP LOCKED`
//! on PostgreSQL, where workers of several instances claim side by side; SQLite has one
//! writer, so its claim is one statement run alone).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_domain::mail::{
    ActionToken, ClaimId, ClaimedMail, MailId, MailKind, MailQueue, MailStatus, QueuedMail,
    SealedMail,
};
use gatehouse_domain::{Page, Paged, RepositoryError, UserId};
use sea_orm::sea_query::{Expr, LockBehavior, LockType, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, DbBackend, EntityTrait, Order,
    QueryFilter, QuerySelect, TransactionTrait,
};

use crate::database::Database;
use crate::entity::action_tokens;
use crate::entity::mail_queue::{self, Column, Entity};
use crate::errors::{corrupt, storage};
use crate::writes::Writes;

/// The longest transport error kept (the rest is cut).
const ERROR_CHARS: usize = 500;

#[derive(Debug, Clone)]
pub struct SeaMailQueue {
    db: DatabaseConnection,
    /// Where writes go (see [`Database::writer`]).
    writer: DatabaseConnection,
    /// Writes that may be grouped (see [`crate::writes`]).
    writes: Writes,
}

impl SeaMailQueue {
    pub fn new(database: &Database) -> Self {
        Self {
            db: database.connection().clone(),
            writer: database.writer().clone(),
            writes: database.writes().clone(),
        }
    }
}

fn token_row(token: &ActionToken) -> action_tokens::ActiveModel {
    action_tokens::ActiveModel {
        token_hash: Set(token.digest.as_str().to_owned()),
        user_id: Set(token.user_id.as_uuid()),
        purpose: Set(token.purpose.as_str().to_owned()),
        email: Set(token.email.as_str().to_owned()),
        created_at: Set(token.created_at),
        expires_at: Set(token.expires_at),
        used_at: Set(None),
    }
}

fn to_domain(row: mail_queue::Model) -> Result<QueuedMail, RepositoryError> {
    let kind = MailKind::parse(&row.kind).ok_or_else(|| corrupt("mail_queue", row.id, "kind"))?;
    let status =
        MailStatus::parse(&row.status).ok_or_else(|| corrupt("mail_queue", row.id, "status"))?;
    Ok(QueuedMail {
        id: MailId::from_uuid(row.id),
        kind,
        user_id: row.user_id.map(UserId::from_uuid),
        sealed: SealedMail::new(row.sealed),
        status,
        attempts: u32::try_from(row.attempts).unwrap_or(0),
        next_attempt_at: row.next_attempt_at,
        last_error: row.last_error,
        created_at: row.created_at,
    })
}

/// Pending emails due at `now` that no worker holds.
fn due_at(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(Column::Status.eq(MailStatus::Pending.as_str()))
        .add(Column::NextAttemptAt.lte(now))
        .add(
            Condition::any()
                .add(Column::ClaimedUntil.is_null())
                .add(Column::ClaimedUntil.lt(now)),
        )
}

/// The row `mail` names, while `mail`'s hold on it lasts.
fn held(mail: &ClaimedMail) -> Condition {
    Condition::all()
        .add(Column::Id.eq(mail.id.as_uuid()))
        .add(Column::Claim.eq(mail.claim.as_uuid()))
}

#[async_trait]
impl MailQueue for SeaMailQueue {
    #[tracing::instrument(skip_all, fields(mail_id = %mail.id.as_uuid()))]
    async fn enqueue(
        &self,
        mail: &QueuedMail,
        token: Option<&ActionToken>,
    ) -> Result<(), RepositoryError> {
        let row = mail_queue::ActiveModel {
            id: Set(mail.id.as_uuid()),
            kind: Set(mail.kind.as_str().to_owned()),
            user_id: Set(mail.user_id.map(|id| id.as_uuid())),
            sealed: Set(mail.sealed.as_str().to_owned()),
            status: Set(mail.status.as_str().to_owned()),
            attempts: Set(i32::try_from(mail.attempts).unwrap_or(i32::MAX)),
            next_attempt_at: Set(mail.next_attempt_at),
            claim: Set(None),
            claimed_until: Set(None),
            last_error: Set(None),
            created_at: Set(mail.created_at),
        };
        let token = token.map(token_row);
        // Grouped with other requests' writes on SQLite (see `crate::writes`); guarded, as
        // an account deleted meanwhile refuses its rows.
        self.writes
            .run(Box::new(move |txn| {
                Box::pin(async move {
                    if let Some(token) = token {
                        action_tokens::Entity::insert(token)
                            .exec_without_returning(txn)
                            .await?;
                    }
                    Entity::insert(row).exec_without_returning(txn).await?;
                    Ok(())
                })
            }))
            .await
    }

    #[tracing::instrument(skip_all)]
    async fn claim(
        &self,
        claim: ClaimId,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<ClaimedMail>, RepositoryError> {
        // Most passes find nothing: a read beside the writer says so without a write.
        let any = Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(due_at(now))
            .into_tuple::<uuid::Uuid>()
            .one(&self.db)
            .await
            .map_err(storage)?;
        if any.is_none() {
            return Ok(Vec::new());
        }
        let mut due = Query::select()
            .column(Column::Id)
            .from(Entity)
            .cond_where(due_at(now))
            .order_by(Column::NextAttemptAt, Order::Asc)
            .limit(limit)
            .to_owned();
        if self.writer.get_database_backend() == DbBackend::Postgres {
            due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let rows = Entity::update_many()
            .col_expr(Column::Claim, Expr::value(claim.as_uuid()))
            .col_expr(Column::ClaimedUntil, Expr::value(until))
            .filter(Column::Id.in_subquery(due))
            .exec_with_returning(&self.writer)
            .await
            .map_err(storage)?;
        rows.into_iter()
            .map(|row| {
                let mail = to_domain(row)?;
                Ok(ClaimedMail {
                    id: mail.id,
                    claim,
                    kind: mail.kind,
                    sealed: mail.sealed,
                    attempts: mail.attempts,
                })
            })
            .collect()
    }

    #[tracing::instrument(skip_all, fields(mail_id = %mail.id.as_uuid()))]
    async fn prepare(
        &self,
        mail: &ClaimedMail,
        user: UserId,
        sealed: &SealedMail,
        token: &ActionToken,
    ) -> Result<bool, RepositoryError> {
        let txn = self.writer.begin().await.map_err(storage)?;
        let updated = Entity::update_many()
            .col_expr(Column::UserId, Expr::value(user.as_uuid()))
            .col_expr(Column::Sealed, Expr::value(sealed.as_str()))
            .filter(held(mail))
            .exec(&txn)
            .await
            .map_err(storage)?;
        if updated.rows_affected == 0 {
            return Ok(false);
        }
        action_tokens::Entity::insert(token_row(token))
            .exec_without_returning(&txn)
            .await
            .map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        Ok(true)
    }

    #[tracing::instrument(skip_all, fields(mail_id = %mail.id.as_uuid()))]
    async fn delivered(&self, mail: &ClaimedMail) -> Result<(), RepositoryError> {
        Entity::delete_many()
            .filter(held(mail))
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(mail_id = %mail.id.as_uuid()))]
    async fn failed(
        &self,
        mail: &ClaimedMail,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), RepositoryError> {
        let error: String = error.chars().take(ERROR_CHARS).collect();
        let attempts = i32::try_from(mail.attempts.saturating_add(1)).unwrap_or(i32::MAX);
        let mut update = Entity::update_many()
            .col_expr(Column::Attempts, Expr::value(attempts))
            .col_expr(Column::LastError, Expr::value(error))
            .col_expr(Column::Claim, Expr::value(Option::<uuid::Uuid>::None))
            .col_expr(
                Column::ClaimedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            );
        update = match retry_at {
            Some(at) => update.col_expr(Column::NextAttemptAt, Expr::value(at)),
            None => update.col_expr(Column::Status, Expr::value(MailStatus::Dead.as_str())),
        };
        update
            .filter(held(mail))
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn list(
        &self,
        status: Option<MailStatus>,
        page: Page,
    ) -> Result<Paged<QueuedMail>, RepositoryError> {
        let mut query = Entity::find();
        if let Some(status) = status {
            query = query.filter(Column::Status.eq(status.as_str()));
        }
        let (items, total) = crate::paging::page_of(
            &self.db,
            query,
            (Column::CreatedAt, Column::Id),
            Order::Asc,
            page,
            to_domain,
        )
        .await?;
        Ok(Paged { items, total, page })
    }

    #[tracing::instrument(skip_all)]
    async fn retry(&self, id: MailId, now: DateTime<Utc>) -> Result<bool, RepositoryError> {
        let revived = revive(now)
            .filter(Column::Id.eq(id.as_uuid()))
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        Ok(revived.rows_affected == 1)
    }

    #[tracing::instrument(skip_all)]
    async fn retry_dead(&self, now: DateTime<Utc>) -> Result<u64, RepositoryError> {
        let revived = revive(now).exec(&self.writer).await.map_err(storage)?;
        Ok(revived.rows_affected)
    }
}

/// Makes dead emails pending again, due at `now`, their tries counted afresh.
fn revive(now: DateTime<Utc>) -> sea_orm::UpdateMany<Entity> {
    Entity::update_many()
        .col_expr(Column::Status, Expr::value(MailStatus::Pending.as_str()))
        .col_expr(Column::Attempts, Expr::value(0))
        .col_expr(Column::NextAttemptAt, Expr::value(now))
        .col_expr(Column::Claim, Expr::value(Option::<uuid::Uuid>::None))
        .col_expr(
            Column::ClaimedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(Column::Status.eq(MailStatus::Dead.as_str()))
}
