//! Logging: `tracing` with structured fields, filtered by `RUST_LOG` (default `info`).
//!
//! Lines are formatted on the thread that logs and written to stderr by a thread of their
//! own, so a slow terminal or pipe never holds a request up. Nothing is dropped: when that
//! thread falls behind by [`BUFFERED_LINES`], loggers wait rather than lose security events.
//! Colours only when stderr is a terminal.

use std::io::IsTerminal;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

/// Lines waiting for the writer thread at most.
pub const BUFFERED_LINES: usize = 128_000;

/// Installs the global subscriber, writing to stderr. Does nothing if one is installed.
/// Keep the guard: dropping it flushes what is buffered and stops the writer.
pub fn init(format: LogFormat) -> WorkerGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(BUFFERED_LINES)
        .lossy(false)
        .thread_name("gatehouse-log")
        .finish(std::io::stderr());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    guard
}
