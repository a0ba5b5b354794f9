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
use crate::errors::storage;

#[derive(Debug, Clone)]
pub struct SeaThrottleRepository {
    db: DatabaseConnection,
    /// Where writes go (see [`Database::writer`]).
    writer: DatabaseConnection,
}

impl SeaThrottleRepository {
    pub fn new(database: &Database) -> Self {
        Self {
            db: database.connection().clone(),
            writer: database.writer().clone(),
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

/// A success forgets the account's counter and gives the network's reservation back, in
/// one statement. The account's row is not deleted (which would take a second statement on
/// SQLite) but emptied and dated back to `$6`, the epoch, as if it were gone: the next
/// attempt starts a new window, a late release of an earlier reservation (which names the
/// old window) finds nothing to take back, and housekeeping purges the row. Naming one row
/// twice clears it.
const CLEAR_AND_RELEASE: &str = r#"
UPDATE throttle_counters SET
    "count" = CASE WHEN bucket = $1 AND subject = $2 THEN 0 ELSE "count" - 1 END,
    window_start = CASE WHEN bucket = $1 AND subject = $2 THEN $6 ELSE window_start END
WHERE (bucket = $1 AND subject = $2)
    OR (bucket = $3 AND subject = $4 AND window_start = $5 AND "count" > 0)
"#;

/// The same on PostgreSQL, whose rows are locked one by one: in the order of their buckets,
/// as [`SeaThrottleRepository::reserve_each`] takes them. An `UPDATE` alone locks them in
/// the order it finds them, and two statements taking two rows in opposite orders
/// deadlock until PostgreSQL fails one of them (after `deadlock_timeout`, a second).
const CLEAR_AND_RELEASE_IN_ORDER: &str = r#"
WITH locked AS (
    SELECT bucket, subject FROM throttle_counters
    WHERE (bucket = $1 AND subject = $2)
        OR (bucket = $3 AND subject = $4 AND window_start = $5 AND "count" > 0)
    ORDER BY bucket COLLATE "C", subject COLLATE "C"
    FOR UPDATE
)
UPDATE throttle_counters SET
    "count" = CASE WHEN throttle_counters.bucket = $1 AND throttle_counters.subject = $2
        THEN 0 ELSE throttle_counters."count" - 1 END,
    window_start = CASE WHEN throttle_counters.bucket = $1 AND throttle_counters.subject = $2
        THEN $6 ELSE throttle_counters.window_start END
FROM locked
WHERE throttle_counters.bucket = locked.bucket AND throttle_counters.subject = locked.subject
"#;

/// Gives back one reservation in each of two counters, in one statement: a success that
/// counted against two buckets (a client and its caller's network).
const RELEASE_BOTH: &str = r#"
UPDATE throttle_counters SET "count" = "count" - 1
WHERE "count" > 0 AND (
    (bucket = $1 AND subject = $2 AND window_start = $3)
    OR (bucket = $4 AND subject = $5 AND window_start = $6))
"#;

/// The same on PostgreSQL, its rows locked in the order of their buckets, as
/// [`CLEAR_AND_RELEASE_IN_ORDER`] does and for the same reason.
const RELEASE_BOTH_IN_ORDER: &str = r#"
WITH locked AS (
    SELECT bucket, subject FROM throttle_counters
    WHERE "count" > 0 AND (
        (bucket = $1 AND subject = $2 AND window_start = $3)
        OR (bucket = $4 AND subject = $5 AND window_start = $6))
    ORDER BY bucket COLLATE "C", subject COLLATE "C"
    FOR UPDATE
)
UPDATE throttle_counters SET "count" = throttle_counters."count" - 1
FROM locked
WHERE throttle_counters.bucket = locked.bucket AND throttle_counters.subject = locked.subject
"#;

/// The count and window a reservation's upsert returned.
fn count(row: &sea_orm::QueryResult) -> Result<Count, RepositoryError> {
    let count: i64 = row.try_get("", "count").map_err(storage)?;
    let window_start: DateTime<Utc> = row.try_get("", "window_start").map_err(storage)?;
    Ok(Count {
        count: u64::try_from(count).unwrap_or_default(),
        window_start,
    })
}

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
            .writer
            .query_one_raw(statement(
                self.writer.get_database_backend(),
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
        count(&row)
    }

    async fn reserve_each(
        &self,
        counters: &[(Bucket, &str, Duration)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Count>, RepositoryError> {
        // One multi-row upsert; each row's window is chosen by its bucket, so the buckets
        // must be distinct (a row cannot be upserted twice in one statement).
        let distinct = counters
            .iter()
            .enumerate()
            .all(|(i, (bucket, ..))| counters[..i].iter().all(|(other, ..)| other != bucket));
        if counters.len() < 2 || !distinct {
            let mut counts = Vec::with_capacity(counters.len());
            for (bucket, subject, window) in counters {
                counts.push(self.reserve(*bucket, subject, now, *window).await?);
            }
            return Ok(counts);
        }
        let mut values: Vec<sea_orm::Value> = vec![now.into()];
        let (mut rows, mut windows) = (Vec::new(), Vec::new());
        // Rows are upserted, and on PostgreSQL locked, in the order given: always that of
        // their buckets, so that two statements never wait for each other's rows.
        let mut in_order: Vec<_> = counters.iter().collect();
        in_order.sort_by_key(|(bucket, ..)| bucket.as_str());
        for (bucket, subject, window) in in_order {
            let n = values.len();
            rows.push(format!("(${}, ${}, $1, 1)", n + 1, n + 2));
            windows.push(format!("WHEN ${} THEN ${}", n + 1, n + 3));
            values.extend([
                bucket.as_str().into(),
                (*subject).into(),
                (now - *window).into(),
            ]);
        }
        let sql = format!(
            r#"
INSERT INTO throttle_counters (bucket, subject, window_start, "count")
VALUES {rows}
ON CONFLICT (bucket, subject) DO UPDATE SET
    "count" = CASE WHEN throttle_counters.window_start <= CASE excluded.bucket {windows} END
        THEN 1 ELSE throttle_counters."count" + 1 END,
    window_start = CASE WHEN throttle_counters.window_start <= CASE excluded.bucket {windows} END
        THEN excluded.window_start ELSE throttle_counters.window_start END
RETURNING bucket, "count", window_start
"#,
            rows = rows.join(", "),
            windows = windows.join(" "),
        );
        let returned = self
            .writer
            .query_all_raw(statement(self.writer.get_database_backend(), &sql, values))
            .await
            .map_err(storage)?;
        // Rows come back in no promised order: matched by bucket.
        let mut counts = Vec::with_capacity(counters.len());
        for (bucket, ..) in counters {
            let row = returned
                .iter()
                .find(|row| {
                    row.try_get::<String>("", "bucket")
                        .is_ok_and(|returned| returned == bucket.as_str())
                })
                .ok_or_else(|| RepositoryError::new(NoRowReturned))?;
            counts.push(count(row)?);
        }
        Ok(counts)
    }

    async fn clear_and_release(
        &self,
        clear: (Bucket, &str),
        release: (Bucket, &str, DateTime<Utc>),
    ) -> Result<(), RepositoryError> {
        let backend = self.writer.get_database_backend();
        let sql = match backend {
            DatabaseBackend::Postgres => CLEAR_AND_RELEASE_IN_ORDER,
            _ => CLEAR_AND_RELEASE,
        };
        self.writer
            .execute_raw(statement(
                backend,
                sql,
                vec![
                    clear.0.as_str().into(),
                    clear.1.into(),
                    release.0.as_str().into(),
                    release.1.into(),
                    release.2.into(),
                    DateTime::<Utc>::UNIX_EPOCH.into(),
                ],
            ))
            .await
            .map(|_| ())
            .map_err(storage)
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
            .exec(&self.writer)
            .await
            .map(|_| ())
            .map_err(storage)
    }

    async fn release_each(
        &self,
        counters: &[(Bucket, &str, DateTime<Utc>)],
    ) -> Result<(), RepositoryError> {
        let [first, second] = counters else {
            for (bucket, subject, window_start) in counters {
                self.release(*bucket, subject, *window_start).await?;
            }
            return Ok(());
        };
        if first.0 == second.0 {
            // One row named twice is taken back twice, statement by statement.
            self.release(first.0, first.1, first.2).await?;
            return self.release(second.0, second.1, second.2).await;
        }
        let backend = self.writer.get_database_backend();
        let sql = match backend {
            DatabaseBackend::Postgres => RELEASE_BOTH_IN_ORDER,
            _ => RELEASE_BOTH,
        };
        self.writer
            .execute_raw(statement(
                backend,
                sql,
                vec![
                    first.0.as_str().into(),
                    first.1.into(),
                    first.2.into(),
                    second.0.as_str().into(),
                    second.1.into(),
                    second.2.into(),
                ],
            ))
            .await
            .map(|_| ())
            .map_err(storage)
    }

    async fn peek(
        &self,
        bucket: Bucket,
        subject: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<u64, RepositoryError> {
        let row = Entity::find()
            .filter(Column::Bucket.eq(bucket.as_str()))
            .filter(Column::Subject.eq(subject))
            .filter(Column::WindowStart.gt(now - window))
            .one(&self.db)
            .await
            .map_err(storage)?;
        Ok(row.map_or(0, |row| u64::try_from(row.count).unwrap_or_default()))
    }

    async fn clear(&self, bucket: Bucket, subject: &str) -> Result<(), RepositoryError> {
        Entity::delete_many()
            .filter(Column::Bucket.eq(bucket.as_str()))
            .filter(Column::Subject.eq(subject))
            .exec(&self.writer)
            .await
            .map(|_| ())
            .map_err(storage)
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError> {
        Entity::delete_many()
            .filter(Column::WindowStart.lt(before))
            .exec(&self.writer)
            .await
            .map(|result| result.rows_affected)
            .map_err(storage)
    }
}

/// An upsert with `RETURNING` that returned nothing: the database is not what we migrated.
#[derive(Debug, thiserror::Error)]
#[error("the throttle counter upsert returned no row")]
struct NoRowReturned;
