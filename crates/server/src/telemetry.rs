//! Logging: `tracing` with structured fields, filtered by `RUST_LOG` (default `info`).
//!
//! Lines are formatted on the thread that logs and written to stderr by a thread of its
//! own, so a slow terminal or pipe never holds a request up. That thread writes what has
//! come in as one `write` and then lingers for [`LINGER`] before it looks again, so that
//! under load requests hand it lines without waking it. Nothing is dropped: when it falls
//! behind by [`BUFFERED_LINES`], loggers wait rather than lose security events. Colours only
//! when stderr is a terminal.
//!
//! Every request writes one access line ([`AccessLine`], target [`ACCESS_TARGET`]). It is
//! the one line every request pays for, so it skips `tracing`'s dispatch and generic
//! formatting: when `RUST_LOG` enables it, it is formatted here, in the same shape as the
//! others, and handed straight to the writer thread (measured: 1.8 µs of the 20 of a
//! `/health/live` through `tracing`). Every other line goes through `tracing`, and when it
//! is logged while a request is served, it ends with that request's `request_id` and
//! `user_id` (`request_log::current`).

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::sync::OnceLock;
use std::time::Duration;

use tracing::{Event, Subscriber};
use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, format::JsonFields};
use tracing_subscriber::registry::LookupSpan;

use crate::settings::LogFormat;

/// Lines waiting for the writer thread at most. The queue's slots are allocated up front
/// (a 128,000-line queue, the crate's default, is 5 MiB resident); at 50,000 lines a
/// second, [`LINGER`] fills about 250 of them.
pub const BUFFERED_LINES: usize = 8_192;

/// How long the writer thread waits after each write: at most this late, a line is out.
pub const LINGER: Duration = Duration::from_millis(5);

/// The target of the access line each request ends with.
pub const ACCESS_TARGET: &str = "gatehouse_server::request_log";

/// Where access lines go once [`init`] installed the service's subscriber.
static ACCESS_LOG: OnceLock<AccessLog> = OnceLock::new();

struct AccessLog {
    writer: NonBlocking,
    json: bool,
}

/// Installs the global subscriber, writing to stderr. Does nothing if one is installed.
/// Keep the guard: dropping it flushes what is buffered and stops the writer.
pub fn init(format: LogFormat) -> WorkerGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(BUFFERED_LINES)
        .lossy(false)
        .thread_name("gatehouse-log")
        .finish(Batches(BufWriter::with_capacity(1 << 16, io::stderr())));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer.clone());
    let json = format == LogFormat::Json;
    let installed = if json {
        builder
            .fmt_fields(JsonFields::new())
            .event_format(WithRequest {
                others: format::Format::default().json(),
                json,
            })
            .try_init()
    } else {
        builder
            .event_format(WithRequest {
                others: format::Format::default().with_ansi(ansi),
                json,
            })
            .try_init()
    };
    if installed.is_ok() {
        let _ = ACCESS_LOG.set(AccessLog { writer, json });
    }
    guard
}

/// The writer thread's output: lines gather in a buffer and go out together when the
/// thread has taken everything waiting (it flushes then), after which it lingers.
struct Batches<W: Write>(BufWriter<W>);

impl<W: Write> Write for Batches<W> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        self.0.write(line)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()?;
        std::thread::sleep(LINGER);
        Ok(())
    }
}

/// The line a request ends with: the access log.
pub struct AccessLine<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub elapsed_us: u64,
    pub user_id: Option<&'a str>,
}

thread_local! {
    /// This thread's line buffer and its handle on the writer thread (a handle of its own,
    /// so that lines do not share a reference count between threads).
    static ACCESS_BUFFER: RefCell<(String, Option<NonBlocking>)> = const { RefCell::new((String::new(), None)) };
}

impl AccessLine<'_> {
    /// Logs the line, if `RUST_LOG` enables [`ACCESS_TARGET`] at `info`.
    pub fn log(&self) {
        if !tracing::enabled!(target: ACCESS_TARGET, tracing::Level::INFO) {
            return;
        }
        let Some(log) = ACCESS_LOG.get() else {
            // Another subscriber (a test's) is installed: it gets an event.
            tracing::info!(
                target: ACCESS_TARGET,
                request_id = self.request_id,
                method = self.method,
                path = self.path,
                status = self.status,
                elapsed_us = self.elapsed_us,
                user_id = self.user_id,
                "request completed"
            );
            return;
        };
        ACCESS_BUFFER.with_borrow_mut(|(line, writer)| {
            line.clear();
            if self.write(line, log.json).is_ok() {
                let writer = writer.get_or_insert_with(|| log.writer.clone());
                let _ = writer.write_all(line.as_bytes());
            }
        });
    }

    /// The line as [`WithRequest`]'s `others` would write an event with these fields:
    /// `2026-12-01T10:00:00.000000Z  INFO target: request completed name="value"…`, or a
    /// JSON object with `timestamp`, `level`, `fields` and `target`.
    fn write(&self, out: &mut String, json: bool) -> fmt::Result {
        let mut now = TimestampBuffer::new();
        let now = now.now();
        let Self {
            request_id,
            method,
            path,
            status,
            elapsed_us,
            user_id,
        } = self;
        if json {
            write!(
                out,
                r#"{{"timestamp":"{now}","level":"INFO","fields":{{"message":"request completed","request_id":"#
            )?;
            write_json_string(out, request_id)?;
            out.push_str(r#","method":"#);
            write_json_string(out, method)?;
            out.push_str(r#","path":"#);
            write_json_string(out, path)?;
            write!(out, r#","status":{status},"elapsed_us":{elapsed_us}"#)?;
            if let Some(user_id) = user_id {
                out.push_str(r#","user_id":"#);
                write_json_string(out, user_id)?;
            }
            writeln!(out, r#"}},"target":"{ACCESS_TARGET}"}}"#)
        } else {
            write!(
                out,
                "{now}  INFO {ACCESS_TARGET}: request completed request_id="
            )?;
            write_debug_str(out, request_id)?;
            out.push_str(" method=");
            write_debug_str(out, method)?;
            out.push_str(" path=");
            write_debug_str(out, path)?;
            write!(out, " status={status} elapsed_us={elapsed_us}")?;
            if let Some(user_id) = user_id {
                out.push_str(" user_id=");
                write_debug_str(out, user_id)?;
            }
            writeln!(out)
        }
    }
}

/// Formats events with `others`, and gives those logged while a request is served its ids.
struct WithRequest<F> {
    others: F,
    json: bool,
}

impl<S, N, F> FormatEvent<S, N> for WithRequest<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Some((request_id, user_id)) = gatehouse_http::request_context::current() else {
            return self.others.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.others
            .format_event(ctx, Writer::new(&mut line), event)?;
        let line = line.strip_suffix('\n').unwrap_or(&line);
        if self.json {
            let object = line.strip_suffix('}').unwrap_or(line);
            write!(writer, r#"{object},"request_id":"{request_id}""#)?;
            if let Some(user_id) = user_id {
                write!(writer, r#","user_id":"{user_id}""#)?;
            }
            return writeln!(writer, "}}");
        }
        write!(writer, r#"{line} request_id="{request_id}""#)?;
        if let Some(user_id) = user_id {
            write!(writer, r#" user_id="{user_id}""#)?;
        }
        writeln!(writer)
    }
}

/// `value` as a JSON string.
/// `value` as `{:?}` writes it, without the formatting machinery when nothing in it needs
/// escaping (ids, methods, most paths).
fn write_debug_str(out: &mut String, value: &str) -> fmt::Result {
    if value
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push('"');
        out.push_str(value);
        out.push('"');
        Ok(())
    } else {
        write!(out, "{value:?}")
    }
}

thread_local! {
    /// The second last formatted on this thread, and its `YYYY-MM-DDTHH:MM:SS`.
    static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
}

/// The current time as RFC 3339 with microseconds (`2026-12-01T10:00:00.000000Z`), its
/// date and time formatted once per second per thread.
struct TimestampBuffer([u8; 27]);

impl TimestampBuffer {
    fn new() -> Self {
        Self([b'0'; 27])
    }

    fn now(&mut self) -> &str {
        let now = chrono::Utc::now();
        let second = now.timestamp();
        SECOND.with_borrow_mut(|(cached, text)| {
            if *cached != second {
                *text = now.format("%Y-%m-%dT%H:%M:%S").to_string();
                *cached = second;
            }
            let len = text.len().min(19);
            self.0[..len].copy_from_slice(&text.as_bytes()[..len]);
        });
        self.0[19] = b'.';
        let mut micros = now.timestamp_subsec_micros().min(999_999);
        for i in (20..26).rev() {
            self.0[i] = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        self.0[26] = b'Z';
        std::str::from_utf8(&self.0).unwrap_or("1970-01-01T00:00:00.000000Z")
    }
}

fn write_json_string(out: &mut impl fmt::Write, value: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in value.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if c.is_control() => write!(out, "\\u{:04x}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Lines written through a subscriber with our formatter, as `json` or pretty.
    fn logged(json: bool, emit: impl FnOnce()) -> String {
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let make_writer = move || Sink(sink.clone());
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(make_writer);
        if json {
            let others = format::Format::default().json();
            let subscriber = builder
                .fmt_fields(JsonFields::new())
                .event_format(WithRequest { others, json })
                .finish();
            tracing::subscriber::with_default(subscriber, emit);
        } else {
            let others = format::Format::default();
            let subscriber = builder.event_format(WithRequest { others, json }).finish();
            tracing::subscriber::with_default(subscriber, emit);
        }
        String::from_utf8(out.lock().unwrap().clone()).unwrap()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_logged_while_serving_a_request_carry_its_ids() {
        let (id, user) = (uuid::Uuid::now_v7(), gatehouse_domain::UserId::generate());
        let emit = || {
            gatehouse_http::request_context::serving(id, Some(user), || {
                tracing::warn!(event = "throttled", "request throttled");
            })
        };
        let json = logged(true, emit);
        let line: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
        assert_eq!(line["fields"]["message"], "request throttled");
        assert_eq!(line["request_id"], id.to_string());
        assert_eq!(line["user_id"], user.to_string());
        let pretty = logged(false, emit);
        let ids = format!(r#"event="throttled" request_id="{id}" user_id="{user}""#);
        assert!(pretty.trim_end().ends_with(&ids), "{pretty}");
        // Outside a request, nothing is added.
        let outside = logged(false, || tracing::warn!("starting"));
        assert!(!outside.contains("request_id"), "{outside}");
    }

    const ACCESS: AccessLine<'static> = AccessLine {
        request_id: "r-1",
        method: "GET",
        path: "/a\"b\nc",
        status: 200,
        elapsed_us: 12,
        user_id: Some("u-1"),
    };

    /// The access line as `tracing` and its formatter for the other lines write it: with no
    /// service subscriber installed (as in these tests), `AccessLine::log` sends it there.
    fn through_tracing(json: bool) -> String {
        logged(json, || ACCESS.log())
    }

    fn written(json: bool, line: &AccessLine<'_>) -> String {
        let mut out = String::new();
        line.write(&mut out, json).unwrap();
        out
    }

    #[test]
    fn access_lines_are_written_as_tracing_writes_the_others() {
        let without_time = |line: &str| line.split_once(' ').unwrap().1.to_owned();
        let ours = written(false, &ACCESS);
        assert_eq!(ours.lines().count(), 1, "{ours}");
        assert_eq!(without_time(&ours), without_time(&through_tracing(false)));

        let parse = |line: &str| {
            let mut value: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
            let time = value.as_object_mut().unwrap().remove("timestamp").unwrap();
            assert!(time.as_str().unwrap().ends_with('Z'), "{time}");
            value
        };
        let ours = parse(&written(true, &ACCESS));
        assert_eq!(ours, parse(&through_tracing(true)));
        assert_eq!(ours["fields"]["path"], "/a\"b\nc");

        let anonymous = AccessLine {
            user_id: None,
            ..ACCESS
        };
        assert!(!written(false, &anonymous).contains("user_id"));
        assert!(
            parse(&written(true, &anonymous))["fields"]
                .get("user_id")
                .is_none()
        );
    }

    fn json(value: &str) -> String {
        let mut out = String::new();
        write_json_string(&mut out, value).unwrap();
        out
    }

    #[test]
    fn json_strings_escape_what_json_requires() {
        for raw in ["/a\"b\\c", "line\nbreak\r\t", "nul\u{0}bell\u{7}", "é 🦀"] {
            let written = json(raw);
            let read: String = serde_json::from_str(&written).unwrap();
            assert_eq!(read, raw);
        }
    }
}
