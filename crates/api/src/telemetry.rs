//! Logging: `tracing` with structured fields, filtered by `RUST_LOG` (default `info`).
//!
//! Lines are formatted on the thread that logs and written to stderr by a thread of its
//! own, so a slow terminal or pipe never holds a request up. That thread writes what has
//! come in as one `write` and then lingers for [`LINGER`] before it looks again, so that
//! under load requests hand it lines without waking it. Nothing is dropped: when it falls
//! behind by [`BUFFERED_LINES`], loggers wait rather than lose security events. Colours only
//! when stderr is a terminal.
//!
//! Every request writes one access line ([`ACCESS_TARGET`]), so that line has a formatter
//! of its own ([`AccessLines`]): the same shape as the others, without their generic
//! machinery, at a fraction of the cost. Every other event goes through `tracing`'s, and
//! when it is logged while a request is served, it ends with that request's `request_id`
//! and `user_id` (`request_log::current`).

use std::fmt;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, format::JsonFields};
use tracing_subscriber::registry::LookupSpan;

use crate::settings::LogFormat;

/// Lines waiting for the writer thread at most.
pub const BUFFERED_LINES: usize = 128_000;

/// How long the writer thread waits after each write: at most this late, a line is out.
pub const LINGER: Duration = Duration::from_millis(5);

/// The target of the access line each request ends with.
pub const ACCESS_TARGET: &str = "gatehouse_api::request_log";

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
        .with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder
            .fmt_fields(JsonFields::new())
            .event_format(AccessLines {
                others: format::Format::default().json(),
                json: true,
            })
            .try_init(),
        LogFormat::Pretty => builder
            .event_format(AccessLines {
                others: format::Format::default().with_ansi(ansi),
                json: false,
            })
            .try_init(),
    };
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

/// Formats access lines itself, everything else with `others`.
struct AccessLines<F> {
    others: F,
    json: bool,
}

impl<S, N, F> FormatEvent<S, N> for AccessLines<F>
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
        let metadata = event.metadata();
        if metadata.target() != ACCESS_TARGET {
            let Some((request_id, user_id)) = crate::request_log::current() else {
                return self.others.format_event(ctx, writer, event);
            };
            // Rare next to access lines: formatted whole, then given the request's ids.
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
            return writeln!(writer);
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let level = metadata.level().as_str();
        if self.json {
            write!(
                writer,
                r#"{{"timestamp":"{now}","level":"{level}","fields":{{"#
            )?;
        } else {
            write!(writer, "{now} {level:>5} {ACCESS_TARGET}:")?;
        }
        let mut fields = Fields {
            writer: &mut writer,
            json: self.json,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        if self.json {
            writeln!(writer, r#"}},"target":"{ACCESS_TARGET}"}}"#)
        } else {
            writeln!(writer)
        }
    }
}

/// Writes each field as it is visited: ` name=value` (strings quoted and escaped as Rust
/// does), or `"name":value` (JSON).
struct Fields<'a, 'w> {
    writer: &'a mut Writer<'w>,
    json: bool,
    first: bool,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>, bool) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let separator = if self.json && !self.first { "," } else { "" };
        self.first = false;
        let name = field.name();
        self.result = if self.json {
            write!(self.writer, r#"{separator}"{name}":"#)
        } else if name == "message" {
            write!(self.writer, " ")
        } else {
            write!(self.writer, " {name}=")
        }
        .and_then(|()| value(self.writer, self.json));
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, |writer, json| match json {
            true => write_json_string(writer, value),
            false => write!(writer, "{value:?}"),
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |writer, _| write!(writer, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |writer, _| write!(writer, "{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let message = field.name() == "message";
        self.field(field, |writer, json| match (json, message) {
            (true, _) => write_json_string(writer, &format!("{value:?}")),
            (false, true) => write!(writer, "{value:?}"),
            (false, false) => write!(writer, "{:?}", format!("{value:?}")),
        });
    }
}

/// `value` as a JSON string.
fn write_json_string(writer: &mut Writer<'_>, value: &str) -> fmt::Result {
    writer.write_char('"')?;
    for c in value.chars() {
        match c {
            '"' => writer.write_str("\\\"")?,
            '\\' => writer.write_str("\\\\")?,
            '\n' => writer.write_str("\\n")?,
            '\r' => writer.write_str("\\r")?,
            '\t' => writer.write_str("\\t")?,
            c if c.is_control() => write!(writer, "\\u{:04x}", c as u32)?,
            c => writer.write_char(c)?,
        }
    }
    writer.write_char('"')
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
                .event_format(AccessLines { others, json })
                .finish();
            tracing::subscriber::with_default(subscriber, emit);
        } else {
            let others = format::Format::default();
            let subscriber = builder.event_format(AccessLines { others, json }).finish();
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

    fn access_line() {
        let user_id: Option<&str> = Some("u-1");
        tracing::info!(
            target: ACCESS_TARGET,
            request_id = "r-1",
            method = "GET",
            path = "/a\"b\nc",
            status = 200u16,
            elapsed_us = 12u64,
            user_id,
            "request completed"
        );
        tracing::info!(target: "gatehouse_api::other", event = "login_failed", "login failed");
    }

    #[test]
    fn lines_logged_while_serving_a_request_carry_its_ids() {
        let (id, user) = (uuid::Uuid::now_v7(), gatehouse_domain::UserId::generate());
        let emit = || {
            crate::request_log::serving(id, Some(user), || {
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

    #[test]
    fn access_lines_have_the_shape_of_the_others() {
        let lines = logged(true, access_line);
        let mut lines = lines
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap());
        let access = lines.next().unwrap();
        let other = lines.next().unwrap();
        assert_eq!(access["target"], ACCESS_TARGET);
        assert_eq!(access["level"], "INFO");
        assert_eq!(
            access["fields"],
            serde_json::json!({"message": "request completed", "request_id": "r-1", "method": "GET",
                "path": "/a\"b\nc", "status": 200, "elapsed_us": 12, "user_id": "u-1"})
        );
        for key in ["timestamp", "level", "fields", "target"] {
            assert!(other.get(key).is_some(), "{key} in {other}");
        }

        let pretty = logged(false, access_line);
        let access = pretty.lines().next().unwrap();
        assert!(access.contains(" INFO gatehouse_api::request_log: request completed request_id=\"r-1\" method=\"GET\""), "{access}");
        assert!(
            access.ends_with(r#"path="/a\"b\nc" status=200 elapsed_us=12 user_id="u-1""#),
            "{access}"
        );
        assert_eq!(pretty.lines().count(), 2, "one line each: {pretty}");
    }

    fn json(value: &str) -> String {
        let mut out = String::new();
        write_json_string(&mut Writer::new(&mut out), value).unwrap();
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
