//! The domain's `ThrottleRepository` on SeaORM: one counter row per (bucket, subject),
//! bumped and read back in a single upsert so concurrent reservations each get their own
//! count, on SQLite and PostgreSQL alike.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use gatehouse_domain::RepositoryError;
use gatehouse_domain::throttle::{Bucket, Count, ThrottleRepository};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter,
    Statement,
};

use crate::database::Database;
use crate::entity::throttle_counters::{Column, Entity};
use crate::users::storage;

#[derive(Debug, Clone)]
pub struct SeaThrottleRepository {
    db: DatabaseConnection,
}

impl SeaThrottleRepository {
    pub fn new(database: &Database) -> Self {
        Self {
            db: database.connection().clone(),
        }
    }
}

/// Both databases run the same upsert (SQLite ≥ 3.35 has `RETURNING`); in `SET`, the
/// table's columns are the row before the update, `excluded` the row that was refused.
const RESERVE: &str = r#"
INSERT INTO throttle_counters (bucket, subject, window_start, "count")
VALUES ($1, $2, $3, 1)
ON CONFLICT (bucket, subject) DO UPDATE SET
    "count" = CASE WHEN throttle_counters.window_start <= $4
        THEN 1 ELSE throttle_counters."count" + 1 END,
    window_start = CASE WHEN throttle_counters.window_start <= $4
        THEN excluded.window_start ELSE throttle_counters.window_start END
RETURNING "count", window_start
"#;

fn statement(backend: DatabaseBackend, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    // SQLite numbers its parameters `?N`, PostgreSQL `$N`.
    let sql = match backend {
        DatabaseBackend::Postgres => sql.to_owned(),
        _ => sql.replace('$', "?"),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

#[async_trait]
impl ThrottleRepository for SeaThrottleRepository {
    async fn reserve(
        &self,
        bucket: Bucket,
        subject: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<Count, RepositoryError> {
        let row = self
            .db
            .query_one_raw(statement(
                self.db.get_database_backend(),
                RESERVE,
                vec![
                    bucket.as_str().into(),
                    subject.into(),
                    now.into(),
                    (now - window).into(),
                ],
            ))
            .await
            .map_err(storage)?
            .ok_or_else(|| RepositoryError::new(NoRowReturned))?;
        let count: i64 = row.try_get("", "count").map_err(storage)?;
        let window_start: DateTime<Utc> = row.try_get("", "window_start").map_err(storage)?;
        Ok(Count {
            count: u64::try_from(count).unwrap_or_default(),
            window_start,
        })
    }

    async fn release(
        &self,
        bucket: Bucket,
        subject: &str,
        window_start: DateTime<Utc>,
    ) -> Result<(), RepositoryError> {
        Entity::update_many()
            .col_expr(Column::Count, Expr::col(Column::Count).sub(1))
            .filter(Column::Bucket.eq(bucket.as_str()))
            .filter(Column::Subject.eq(subject))
            .filter(Column::WindowStart.eq(window_start))
            .filter(Column::Count.gt(0))
            .exec(&self.db)
            .await
            .map(|_| ())
            .map_err(storage)
    }

    async fn clear(&self, bucket: Bucket, subject: &str) -> Result<(), RepositoryError> {
        Entity::delete_many()
            .filter(Column::Bucket.eq(bucket.as_str()))
            .filter(Column::Subject.eq(subject))
            .exec(&self.db)
            .await
            .map(|_| ())
            .map_err(storage)
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError> {
        Entity::delete_many()
            .filter(Column::WindowStart.lt(before))
            .exec(&self.db)
            .await
            .map(|result| result.rows_affected)
            .map_err(storage)
    }
}

/// An upsert with `RETURNING` that returned nothing: the database is not what we migrated.
#[derive(Debug, thiserror::Error)]
#[error("the throttle counter upsert returned no row")]
struct NoRowReturned;
