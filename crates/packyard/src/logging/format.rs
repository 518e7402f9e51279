//! How a log line looks, and the request id every line logged while a request runs
//! carries.
//!
//! The lines are those of `tracing-subscriber`'s full and JSON formats (operators'
//! parsers keep working):
//!
//! ```text
//! 2026-12-07T05:43:23.977468Z  INFO request{id=ci-4711}: packyard::http: request method=GET route="/p2/{vendor}/{file}" status=200 duration_ms=0.213
//! {"timestamp":"2026-12-07T05:43:23.977468Z","level":"INFO","message":"request","method":"GET",...,"target":"packyard::http","span":{"id":"ci-4711","name":"request"},"spans":[{"id":"ci-4711","name":"request"}]}
//! ```
//!
//! Our own formatter because of what the general one costs on every request, which was
//! most of what separated `/p2/` from nginx once the lines were written off the request
//! thread: a `tracing` span per request (created, entered and left at every poll,
//! closed), the timestamp formatted field by field, styles written even with colours
//! off, and every value through `Debug`. Here the request id is a thread-local set while
//! the request's future is polled ([`in_request`]), the date and time of the current
//! second are formatted once per thread, and numbers are written as numbers.

use std::cell::{Cell, RefCell};
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The longest request id: a client's own `X-Request-Id` is at most this long.
pub const MAX_REQUEST_ID: usize = 64;

/// A request's id, kept inline: it is copied into a thread-local at every poll.
#[derive(Clone, Copy)]
pub struct RequestId {
    bytes: [u8; MAX_REQUEST_ID],
    len: u8,
}

impl RequestId {
    /// `id` when it is a plain token: letters, digits, `.`, `_`, `-`, 1 to 64 of them
    /// (what a client may choose; anything else could forge or break a log line).
    pub fn plain(id: &[u8]) -> Option<Self> {
        let plain = (1..=MAX_REQUEST_ID).contains(&id.len())
            && id
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        plain.then(|| {
            let mut bytes = [0; MAX_REQUEST_ID];
            bytes[..id.len()].copy_from_slice(id);
            RequestId {
                bytes,
                len: u8::try_from(id.len()).expect("at most 64"),
            }
        })
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

thread_local! {
    /// The id of the request this thread is polling, if any.
    static CURRENT: Cell<Option<RequestId>> = const { Cell::new(None) };
    /// The date and time of the last second a line was written in, formatted.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Runs `work` (a poll of a request's future) with `id` as the request id of every
/// line it logs.
pub fn in_request<R>(id: Option<RequestId>, work: impl FnOnce() -> R) -> R {
    let outer = CURRENT.replace(id);
    let result = work();
    CURRENT.set(outer);
    result
}

/// The text (`tracing-subscriber`'s full format) or JSON line of an event.
#[derive(Clone, Copy, Debug)]
pub struct LineFormat {
    pub json: bool,
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut out: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let request = CURRENT.get();
        let metadata = event.metadata();
        if self.json {
            out.write_str("{\"timestamp\":\"")?;
            write_timestamp(&mut out)?;
            write!(out, "\",\"level\":\"{}\"", metadata.level())?;
            let mut fields = JsonFields {
                out: &mut out,
                result: Ok(()),
            };
            event.record(&mut fields);
            fields.result?;
            out.write_str(",\"target\":")?;
            json_string(&mut out, metadata.target())?;
            if let Some(id) = request {
                let span = format!("{{\"id\":\"{}\",\"name\":\"request\"}}", id.as_str());
                write!(out, ",\"span\":{span},\"spans\":[{span}]")?;
            }
            out.write_str("}\n")
        } else {
            write_timestamp(&mut out)?;
            out.write_char(' ')?;
            write_level(&mut out, *metadata.level())?;
            if let Some(id) = request {
                write!(out, " request{{id={}}}:", id.as_str())?;
            }
            write!(out, " {}:", metadata.target())?;
            let mut fields = TextFields {
                out: &mut out,
                result: Ok(()),
            };
            event.record(&mut fields);
            fields.result?;
            out.write_char('\n')
        }
    }
}

/// `2026-12-07T05:43:23.977468Z`; the part up to the second is formatted once a second.
fn write_timestamp(out: &mut impl fmt::Write) -> fmt::Result {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    SECOND.with_borrow_mut(|(second, formatted)| {
        if *second != now.as_secs() {
            *second = now.as_secs();
            let seconds = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
            // `…T05:43:23+00:00`: the part before the offset.
            *formatted = crate::time::rfc3339(seconds);
            formatted.truncate(19);
        }
        write!(out, "{formatted}.{:06}Z", now.subsec_micros())
    })
}

/// The level right-aligned in five columns, coloured at a terminal as
/// `tracing-subscriber` colours it.
fn write_level(out: &mut Writer<'_>, level: Level) -> fmt::Result {
    let (name, colour) = match level {
        Level::TRACE => ("TRACE", "35"),
        Level::DEBUG => ("DEBUG", "34"),
        Level::INFO => (" INFO", "32"),
        Level::WARN => (" WARN", "33"),
        Level::ERROR => ("ERROR", "31"),
    };
    if out.has_ansi_escapes() {
        write!(out, "\x1b[{colour}m{name}\x1b[0m")
    } else {
        out.write_str(name)
    }
}

/// ` message key=value …`: strings quoted, `%` values as they display, errors with
/// their causes.
struct TextFields<'a, W> {
    out: &'a mut W,
    result: fmt::Result,
}

impl<W: fmt::Write> TextFields<'_, W> {
    fn field(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_ok() {
            self.result = if field.name() == "message" {
                write!(self.out, " {value}")
            } else {
                write!(self.out, " {}={value}", field.name())
            };
        }
    }
}

impl<W: fmt::Write> Visit for TextFields<'_, W> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, format_args!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.field(field, format_args!("{value}"));
        } else {
            self.field(field, format_args!("{value:?}"));
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.field(field, format_args!("{}", Number(value)));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, format_args!("{value}"));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, format_args!("{value}"));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, format_args!("{value}"));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.field(field, format_args!("{}", Causes(value)));
    }
}

/// `,"key":value` for each field: numbers and booleans as JSON's, anything else as a
/// string.
struct JsonFields<'a, W> {
    out: &'a mut W,
    result: fmt::Result,
}

impl<W: fmt::Write> JsonFields<'_, W> {
    fn raw(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_ok() {
            self.result = (|| {
                self.out.write_char(',')?;
                json_string(self.out, field.name())?;
                write!(self.out, ":{value}")
            })();
        }
    }

    fn string(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_ok() {
            self.result = (|| {
                self.out.write_char(',')?;
                json_string(self.out, field.name())?;
                self.out.write_char(':')?;
                self.out.write_char('"')?;
                JsonEscaped(&mut *self.out).write_fmt(value)?;
                self.out.write_char('"')
            })();
        }
    }
}

impl<W: fmt::Write> Visit for JsonFields<'_, W> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.string(field, format_args!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.string(field, format_args!("{value}"));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.raw(field, format_args!("{}", Number(value)));
        } else {
            self.string(field, format_args!("{value}"));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.string(field, format_args!("{}", Causes(value)));
    }
}

/// An error and its causes: `outer: inner: innermost`.
struct Causes<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for Causes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// A measurement such as `duration_ms`: three decimals (a microsecond of a
/// millisecond), written with integer arithmetic; shortest form beyond that range.
struct Number(f64);

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.0;
        if value.is_finite() && value.abs() < 1e12 {
            // Exact: |value| * 1000 < 2^53, and the cast saturates anyway.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let thousandths = (value.abs() * 1000.0).round() as u64;
            let sign = if value < 0.0 && thousandths > 0 {
                "-"
            } else {
                ""
            };
            write!(f, "{sign}{}.{:03}", thousandths / 1000, thousandths % 1000)
        } else {
            write!(f, "{value}")
        }
    }
}

/// `value` as a JSON string, quotes included.
fn json_string(out: &mut impl fmt::Write, value: &str) -> fmt::Result {
    out.write_char('"')?;
    JsonEscaped(&mut *out).write_str(value)?;
    out.write_char('"')
}

/// Escapes what passes through for the inside of a JSON string.
struct JsonEscaped<'a, W: ?Sized>(&'a mut W);

impl<W: fmt::Write + ?Sized> fmt::Write for JsonEscaped<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut plain = 0;
        for (at, c) in text.char_indices() {
            let escaped = match c {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                c if c < ' ' => "",
                _ => continue,
            };
            self.0.write_str(&text[plain..at])?;
            if escaped.is_empty() {
                write!(self.0, "\\u{:04x}", u32::from(c))?;
            } else {
                self.0.write_str(escaped)?;
            }
            plain = at + c.len_utf8();
        }
        self.0.write_str(&text[plain..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    /// Lines written, kept for the test to read.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    /// What `work` logs, formatted as `json` says.
    fn logged(json: bool, work: impl FnOnce()) -> String {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(lines.clone())
            .event_format(LineFormat { json })
            .finish();
        tracing::subscriber::with_default(subscriber, work);
        String::from_utf8(lines.0.lock().unwrap().clone()).unwrap()
    }

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("storage unavailable")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    fn request_line() {
        let method = axum::http::Method::GET;
        tracing::info!(target: "packyard::http", %method, route = "/p2/{vendor}/{file}", status = 200u16, duration_ms = 0.2134, "request");
    }

    #[test]
    fn text_lines_read_like_tracing_subscribers_full_format() {
        let id = RequestId::plain(b"ci-4711").unwrap();
        let text = logged(false, || in_request(Some(id), request_line));
        let (timestamp, rest) = text.split_once(' ').unwrap();
        assert_eq!(
            timestamp.len(),
            "2026-12-07T05:43:23.977468Z".len(),
            "{text}"
        );
        assert!(timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T');
        assert_eq!(
            rest,
            " INFO request{id=ci-4711}: packyard::http: request method=GET \
             route=\"/p2/{vendor}/{file}\" status=200 duration_ms=0.213\n"
        );
        // Outside a request, no scope; errors with their causes.
        let error = Outer(std::io::Error::other("connection refused"));
        let text = logged(false, || {
            tracing::warn!(error = &error as &dyn std::error::Error, "read failed");
        });
        assert!(
            text.ends_with(
                " WARN packyard::logging::format::tests: read failed \
                 error=storage unavailable: connection refused\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn json_lines_are_json_with_the_request_as_their_span() {
        let id = RequestId::plain(b"ci-4711").unwrap();
        let text = logged(true, || in_request(Some(id), request_line));
        let line: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "request");
        assert_eq!(line["method"], "GET");
        assert_eq!(line["status"], 200);
        assert_eq!(line["duration_ms"], 0.213);
        assert_eq!(line["target"], "packyard::http");
        assert_eq!(line["span"]["id"], "ci-4711");
        assert_eq!(line["spans"][0]["name"], "request");
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
        // What a value holds cannot break out of its string or its line.
        let text = logged(true, || {
            tracing::warn!(name = "a\"b\\c\nd\u{1}", "quote \" and\nnewline");
        });
        assert_eq!(text.lines().count(), 1, "{text}");
        let line: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(line["name"], "a\"b\\c\nd\u{1}");
        assert_eq!(line["message"], "quote \" and\nnewline");
        assert!(line.get("span").is_none());
    }

    #[test]
    fn the_request_id_is_on_lines_logged_inside_the_request_only() {
        let first = RequestId::plain(b"first").unwrap();
        let second = RequestId::plain(b"second").unwrap();
        let text = logged(false, || {
            in_request(Some(first), || {
                tracing::warn!("in the first");
                in_request(Some(second), || tracing::warn!("in the second"));
                tracing::warn!("back in the first");
            });
            tracing::warn!("outside");
        });
        let scopes: Vec<_> = text
            .lines()
            .map(|line| {
                line.split_once("request{id=")
                    .map(|(_, id)| id.split('}').next().unwrap())
            })
            .collect();
        assert_eq!(scopes, [Some("first"), Some("second"), Some("first"), None]);
    }

    #[test]
    fn only_plain_request_ids_are_taken() {
        assert_eq!(
            RequestId::plain(b"trace-42.a_b").unwrap().as_str(),
            "trace-42.a_b"
        );
        for refused in [&b""[..], b"has space", b"quote\"", b"brace}", &[b'a'; 65]] {
            assert!(RequestId::plain(refused).is_none(), "{refused:?}");
        }
        assert!(RequestId::plain(&[b'a'; 64]).is_some());
    }

    #[test]
    fn numbers_keep_three_decimals() {
        assert_eq!(Number(0.2134).to_string(), "0.213");
        assert_eq!(Number(12.0).to_string(), "12.000");
        assert_eq!(Number(-1.5).to_string(), "-1.500");
        assert_eq!(Number(-0.0001).to_string(), "0.000");
        assert_eq!(Number(1e13).to_string(), "10000000000000");
    }
}
