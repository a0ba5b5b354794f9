//! Group commit on SQLite: the writes of concurrent requests committed together.
//!
//! SQLite commits one transaction at a time, and each commit waits for the disk (an fsync of
//! the WAL). A write submitted here joins the next group: one task runs the group's writes
//! one after another in one transaction, each inside a savepoint of its own (so one write's
//! failure undoes only its own statements; writes that can only fail with the database go
//! without), commits once, and only then answers each caller. A caller is answered no sooner than its write is durable, as with a
//! transaction of its own; a burst of requests pays one fsync instead of one each.
//!
//! On PostgreSQL, which commits concurrent transactions side by side, each write runs at once
//! in a transaction of its own.

use std::future::Future;
use std::pin::Pin;

use gatehouse_domain::RepositoryError;
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

use crate::errors::{is_unavailable, storage};

/// The most writes in one group.
const MOST_IN_A_GROUP: usize = 128;

pub(crate) type BoxFuture<'c, T> = Pin<Box<dyn Future<Output = T> + Send + 'c>>;

/// A write: statements on the transaction (or savepoint) it is given, and its answer. An
/// error undoes its statements (its savepoint, or its own transaction, rolled back).
pub(crate) type Work<T> =
    Box<dyn for<'c> FnOnce(&'c DatabaseTransaction) -> BoxFuture<'c, Result<T, DbErr>> + Send>;

/// Told whether the group committed; answers the caller.
type Finish = Box<dyn FnOnce(Result<(), &DbErr>) + Send>;

/// A write of the group, its answer type erased: how it ends, and whether it failed in a
/// way that leaves the group's transaction unusable (an unguarded write's error).
type Job = Box<dyn for<'c> FnOnce(&'c DatabaseTransaction) -> BoxFuture<'c, (Finish, bool)> + Send>;

/// Where the writes that may be grouped go.
#[derive(Debug, Clone)]
pub(crate) enum Writes {
    /// Each write in its own transaction (PostgreSQL).
    Alone(DatabaseConnection),
    /// Writes grouped by the committing task (SQLite).
    Grouped(mpsc::UnboundedSender<Job>),
}

impl Writes {
    /// Groups writes on `writer` (its one connection), from a task started on the current
    /// Tokio runtime; the task ends with the last clone.
    pub(crate) fn grouped(writer: DatabaseConnection) -> Self {
        let (jobs, waiting) = mpsc::unbounded_channel();
        tokio::spawn(commit_groups(writer, waiting));
        Writes::Grouped(jobs)
    }

    /// Where writes are not grouped (PostgreSQL), the pool a single statement may run on by
    /// itself: committed alone, one round trip instead of three (`BEGIN`, it, `COMMIT`).
    pub(crate) fn alone(&self) -> Option<&DatabaseConnection> {
        match self {
            Writes::Alone(writer) => Some(writer),
            Writes::Grouped(_) => None,
        }
    }

    /// Runs `work`, and answers once what it kept is committed.
    pub(crate) async fn run<T: Send + 'static>(&self, work: Work<T>) -> Result<T, RepositoryError> {
        self.submit(work, true).await
    }

    /// As [`Writes::run`], for a write that never undoes what it did and fails only when the
    /// database does (an I/O error, a full disk): no savepoint of its own (two statements
    /// fewer). Its failure fails its whole group.
    pub(crate) async fn run_unguarded<T: Send + 'static>(
        &self,
        work: Work<T>,
    ) -> Result<T, RepositoryError> {
        self.submit(work, false).await
    }

    async fn submit<T: Send + 'static>(
        &self,
        work: Work<T>,
        guarded: bool,
    ) -> Result<T, RepositoryError> {
        match self {
            Writes::Alone(writer) => {
                let txn = writer.begin().await.map_err(storage)?;
                let answer = work(&txn).await.map_err(storage)?;
                txn.commit().await.map_err(storage)?;
                Ok(answer)
            }
            Writes::Grouped(jobs) => {
                let (reply, answer) = oneshot::channel();
                let job: Job = Box::new(move |txn| {
                    Box::pin(async move {
                        let outcome = if guarded {
                            in_savepoint(txn, work).await
                        } else {
                            work(txn).await
                        };
                        let poisons = !guarded && outcome.is_err();
                        let finish = Box::new(move |committed: Result<(), &DbErr>| {
                            let answer = match (outcome, committed) {
                                (Err(error), _) => Err(storage(error)),
                                (Ok(answer), Ok(())) => Ok(answer),
                                (Ok(_), Err(error)) => Err(commit_failed(error)),
                            };
                            let _ = reply.send(answer);
                        }) as Finish;
                        (finish, poisons)
                    })
                });
                jobs.send(job)
                    .map_err(|_| RepositoryError::unavailable(WriterGone))?;
                // A group that could not begin drops its writes unanswered.
                answer
                    .await
                    .map_err(|_| RepositoryError::unavailable(WriterGone))?
            }
        }
    }
}

/// Runs `work` inside a savepoint of `txn`: released if it succeeds, rolled back if it fails.
async fn in_savepoint<T>(txn: &DatabaseTransaction, work: Work<T>) -> Result<T, DbErr> {
    let savepoint = txn.begin().await?;
    match work(&savepoint).await {
        Ok(answer) => {
            savepoint.commit().await?;
            Ok(answer)
        }
        Err(error) => {
            let _ = savepoint.rollback().await;
            Err(error)
        }
    }
}

/// The committing task: takes what waits (up to [`MOST_IN_A_GROUP`]), runs it in one
/// transaction, commits, answers; again. Each group runs in a task of its own, so that a
/// write that panics loses its group (its callers are told the writer is unavailable) and
/// not the writer.
async fn commit_groups(writer: DatabaseConnection, mut waiting: mpsc::UnboundedReceiver<Job>) {
    let mut group = Vec::with_capacity(MOST_IN_A_GROUP);
    while waiting.recv_many(&mut group, MOST_IN_A_GROUP).await > 0 {
        let jobs = std::mem::replace(&mut group, Vec::with_capacity(MOST_IN_A_GROUP));
        if let Err(error) = tokio::spawn(commit_group(writer.clone(), jobs)).await {
            tracing::error!(%error, "a group of writes was lost");
        }
    }
}

/// Runs `group` in one transaction and commits it, then answers each write.
async fn commit_group(writer: DatabaseConnection, mut group: Vec<Job>) {
    let mut finishes = Vec::with_capacity(group.len());
    let txn = match writer.begin().await {
        Ok(txn) => txn,
        Err(error) => {
            tracing::warn!(%error, "could not begin a group of writes");
            return;
        }
    };
    let mut poisoned = false;
    for job in group.drain(..) {
        let (finish, poisons) = job(&txn).await;
        poisoned |= poisons;
        finishes.push(finish);
    }
    // An unguarded write that failed may have left half its statements: nothing of the
    // group is kept, and every caller is told.
    let committed = if poisoned {
        let _ = txn.rollback().await;
        Err(DbErr::Custom(
            "a write of the group failed: the group was rolled back".into(),
        ))
    } else {
        txn.commit().await
    };
    for finish in finishes.drain(..) {
        finish(committed.as_ref().map(|_| ()));
    }
}

/// A group's commit failed: every write of it is lost, and each caller is told so.
fn commit_failed(error: &DbErr) -> RepositoryError {
    let failed = CommitFailed(error.to_string());
    if is_unavailable(error) {
        RepositoryError::unavailable(failed)
    } else {
        RepositoryError::new(failed)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("a group of writes failed to commit: {0}")]
struct CommitFailed(String);

/// The committing task has ended (the runtime is shutting down, or a group failed to begin).
#[derive(Debug, thiserror::Error)]
#[error("the database writer is unavailable")]
struct WriterGone;

#[cfg(test)]
mod tests {
    use sea_orm::ConnectionTrait;

    use super::*;
    use crate::Database;

    async fn rows(database: &Database) -> Vec<i64> {
        let rows = database
            .connection()
            .query_all_raw(sea_orm::Statement::from_string(
                database.connection().get_database_backend(),
                "SELECT v FROM t ORDER BY v",
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|row| row.try_get("", "v").unwrap())
            .collect()
    }

    fn insert(values: &'static [i64]) -> Work<()> {
        Box::new(move |txn| {
            Box::pin(async move {
                for value in values {
                    txn.execute_unprepared(&format!("INSERT INTO t VALUES ({value})"))
                        .await?;
                }
                Ok(())
            })
        })
    }

    async fn table() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/writes.db", dir.path().display());
        let database = Database::connect(&url).await.unwrap();
        database
            .writer()
            .execute_unprepared("CREATE TABLE t (v INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        assert!(matches!(database.writes(), Writes::Grouped(_)));
        (dir, database)
    }

    #[tokio::test]
    async fn a_failed_write_undoes_only_its_own_statements() {
        let (_dir, database) = table().await;
        let writes = database.writes();
        // Submitted together, so that they share a group: the second inserts 2, then fails
        // on a key the first took.
        let (first, second, third) = tokio::join!(
            writes.run(insert(&[1])),
            writes.run(insert(&[2, 1])),
            writes.run_unguarded(insert(&[3])),
        );
        assert!(first.is_ok() && third.is_ok());
        assert!(second.is_err());
        assert_eq!(rows(&database).await, [1, 3]);
    }

    #[tokio::test]
    async fn an_unguarded_failure_fails_its_whole_group_and_keeps_nothing_of_it() {
        let (_dir, database) = table().await;
        let writes = database.writes();
        writes.run(insert(&[1])).await.unwrap();
        let answers = futures_join(writes).await;
        assert!(answers.iter().all(Result::is_err), "{answers:?}");
        assert_eq!(rows(&database).await, [1]);
        // The writer goes on.
        writes.run_unguarded(insert(&[5])).await.unwrap();
        assert_eq!(rows(&database).await, [1, 5]);
    }

    #[tokio::test]
    async fn a_write_that_panics_loses_its_group_and_not_the_writer() {
        let (_dir, database) = table().await;
        let writes = database.writes();
        let panics: Work<()> = Box::new(|_| Box::pin(async { panic!("a bug in a write") }));
        let (lost, with_it) = tokio::join!(writes.run(panics), writes.run(insert(&[7])));
        assert!(lost.unwrap_err().is_unavailable());
        assert!(with_it.unwrap_err().is_unavailable());
        writes.run(insert(&[8])).await.unwrap();
        assert_eq!(rows(&database).await, [8]);
    }

    /// Three writes in one group, the unguarded middle one failing after a first insert.
    async fn futures_join(writes: &Writes) -> Vec<Result<(), RepositoryError>> {
        let (a, b, c) = tokio::join!(
            writes.run(insert(&[2])),
            writes.run_unguarded(insert(&[3, 1])),
            writes.run(insert(&[4])),
        );
        vec![a, b, c]
    }
}
