//! Why the server could not start.

use gatehouse_persistence::DatabaseError;

/// A setting that cannot work, the database, or a file: the message names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
