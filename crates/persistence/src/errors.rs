//! The errors every store reports: the database unreachable or failing (`storage`), and
//! a stored row the domain refuses (`corrupt`).

use gatehouse_domain::RepositoryError;
use sea_orm::DbErr;

/// Stored data that the domain refuses: a bug or a hand-edited row, never client input.
#[derive(Debug, thiserror::Error)]
#[error("corrupt {table} row {row}: {reason}")]
struct CorruptRow {
    table: &'static str,
    row: String,
    reason: String,
}

/// A value of the row `row` (its id, never a secret or a digest) of `table` that the
/// domain refused: a 500, never a panic.
pub(crate) fn corrupt(
    table: &'static str,
    row: impl std::fmt::Display,
    reason: impl ToString,
) -> RepositoryError {
    RepositoryError::new(CorruptRow {
        table,
        row: row.to_string(),
        reason: reason.to_string(),
    })
}

/// A database error as the domain sees it: unreachable (the pool could not get a working
/// connection in time, or the connection broke) or a failure of the storage itself.
pub(crate) fn storage(error: DbErr) -> RepositoryError {
    if is_unavailable(&error) {
        RepositoryError::unavailable(error)
    } else {
        RepositoryError::new(error)
    }
}

/// Whether `error` says the database could not be reached, rather than that a statement
/// failed: pool timeouts, closed or broken connections, I/O and TLS failures.
pub fn is_unavailable(error: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error as Sqlx;
    match error {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(RuntimeErr::SqlxError(error))
        | DbErr::Exec(RuntimeErr::SqlxError(error))
        | DbErr::Query(RuntimeErr::SqlxError(error)) => {
            matches!(
                error.as_ref(),
                Sqlx::Io(_)
                    | Sqlx::Tls(_)
                    | Sqlx::PoolTimedOut
                    | Sqlx::PoolClosed
                    | Sqlx::WorkerCrashed
                    | Sqlx::Protocol(_)
            ) || is_shutdown(error)
                || is_out_of_room(error)
        }
        DbErr::Conn(_) => true,
        _ => false,
    }
}

/// PostgreSQL's "the server is shutting down / starting up" and "connection lost" codes
/// (class 57P: operator intervention, 08: connection exception).
fn is_shutdown(error: &sea_orm::sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code.starts_with("57P") || code.starts_with("08"))
}

/// SQLite's "database or disk is full" (`SQLITE_FULL`, 13) and I/O errors (`SQLITE_IOERR`,
/// 10, with their extended codes): the disk, not the request. SQLite's codes are numbers of
/// at most four digits, never a PostgreSQL SQLSTATE (five characters).
fn is_out_of_room(error: &sea_orm::sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|db| db.code())
        .filter(|code| code.len() <= 4)
        .and_then(|code| code.parse::<u32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 10 | 13))
}
