//! A minimal WebDriver client, so that tests can drive a real headless Chromium: it
//! starts Debian's `chromedriver` (package chromium-driver) on 127.0.0.1 and speaks the
//! W3C WebDriver protocol (<https://www.w3.org/TR/webdriver2/>), JSON over HTTP, to it
//! with ureq.
//!
//! Every failure panics with the command, WebDriver's error and message, and the URL of
//! the page: these are test helpers, and a test driving a browser should stop at the
//! first surprise with a message saying where it was.
//!
//! ```no_run
//! use std::time::Duration;
//! use testkit::browser::Browser;
//!
//! testkit::needs!(Chromium);
//! let browser = Browser::start();
//! browser.goto("http://127.0.0.1:8080/login");
//! browser.find("input[name=username]").send_keys("admin");
//! browser.find("button[type=submit]").click();
//! let flash = browser.wait_for(".flash", Duration::from_secs(5));
//! assert_eq!(flash.text(), "Welcome, admin");
//! assert_eq!(browser.alert_text(), None, "no script of the page raised an alert");
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::{Service, TempDir, free_port};

/// The key under which WebDriver's JSON names an element: the W3C "web element
/// identifier" (<https://www.w3.org/TR/webdriver2/#elements>).
pub const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The Enter key, for [`Element::send_keys`]: WebDriver types special keys as
/// characters of Unicode's private use area.
pub const ENTER: &str = "\u{E007}";

/// Chromium's switches for every session.
const CHROMIUM_ARGS: [&str; 5] = [
    // The full browser without a window (the old headless mode is a separate program).
    "--headless=new",
    // Chromium's sandbox refuses to run as root, which tests in containers are.
    "--no-sandbox",
    // There is no GPU to use; software rendering is enough for screenshots.
    "--disable-gpu",
    // A container's /dev/shm is often 64 MB, too small for Chromium: use /tmp instead.
    "--disable-dev-shm-usage",
    // A laptop's viewport, so that pages lay out as for a desktop user unless a test
    // resizes the window.
    "--window-size=1280,900",
];

/// How long a page load or a script may take before WebDriver reports a timeout.
const BROWSER_TIMEOUT_MS: u64 = 30_000;

/// How long one WebDriver command may take over HTTP: longer than
/// [`BROWSER_TIMEOUT_MS`], so that slow pages fail with WebDriver's timeout error, which
/// names the command, rather than with ureq's.
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest answer read: above ureq's default of 10 MB, which a screenshot of a long
/// page or a large page source may pass.
const MAX_ANSWER_BYTES: u64 = 256 * 1024 * 1024;

/// How often [`Browser::wait_for`] looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A headless Chromium in its own WebDriver session, with its own chromedriver. Dropping
/// it ends the session, which quits Chromium, then kills chromedriver.
pub struct Browser {
    agent: ureq::Agent,
    /// `http://127.0.0.1:PORT/session/ID`, under which every command is sent.
    session: String,
    // Fields drop after `Drop::drop` has ended the session, in this order: chromedriver
    // is killed, then its log removed.
    _chromedriver: Service,
    _log_dir: TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port of 127.0.0.1 and a session of headless
    /// Chromium in it. Use `testkit::needs!(Chromium)` before, so that a machine without
    /// them skips the test.
    pub fn start() -> Browser {
        let log_dir = TempDir::new("chromedriver");
        let log = log_dir.path().join("chromedriver.log");
        let port = free_port();
        let chromedriver = Service::spawn(
            "chromedriver",
            Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display())),
            port,
        );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            // WebDriver reports its errors in 4xx and 5xx answers' JSON: read them.
            .http_status_as_error(false)
            .timeout_global(Some(HTTP_TIMEOUT))
            .build()
            .into();
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            // An alert stays open (and fails the commands it blocks) until the test
            // handles it. By default chromedriver dismisses an alert that blocks a
            // command, so an alert raised by an XSS payload could be closed by the
            // test's next command before `alert_text` looked for it.
            "unhandledPromptBehavior": "ignore",
            // No implicit wait: `try_find` answers at once; `wait_for` waits explicitly.
            "timeouts": { "implicit": 0, "pageLoad": BROWSER_TIMEOUT_MS, "script": BROWSER_TIMEOUT_MS },
            "goog:chromeOptions": {
                "binary": chromium_binary().to_string_lossy(),
                "args": CHROMIUM_ARGS,
            },
        }}});
        let url = format!("{}/session", chromedriver.url());
        let value = exchange(&agent, Call::Post(&capabilities), &url).unwrap_or_else(|failure| {
            panic!(
                "starting headless Chromium through chromedriver: {failure}\n\
                 chromedriver's log ends with:\n{}",
                last_lines(&log, 30)
            )
        });
        let id = value["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver's new session has no sessionId: {value}"));
        Browser {
            session: format!("{url}/{id}"),
            agent,
            _chromedriver: chromedriver,
            _log_dir: log_dir,
        }
    }

    /// Loads a page, returning once it has loaded (its `load` event fired).
    pub fn goto(&self, url: &str) {
        self.command(Call::Post(&json!({ "url": url })), "/url");
    }

    /// The URL of the page shown, after any redirection.
    pub fn current_url(&self) -> String {
        into_string(self.command(Call::Get, "/url"), "/url")
    }

    /// The page's `<title>`.
    pub fn title(&self) -> String {
        into_string(self.command(Call::Get, "/title"), "/title")
    }

    /// The page's DOM serialized as HTML, as scripts have left it (not the HTML served).
    pub fn page_source(&self) -> String {
        into_string(self.command(Call::Get, "/source"), "/source")
    }

    /// The first element matching a CSS selector; panics, naming the selector and the
    /// page, when there is none.
    pub fn find(&self, css: &str) -> Element<'_> {
        self.try_find(css)
            .unwrap_or_else(|| panic!("no element matches `{css}` on {}", self.page_for_messages()))
    }

    /// The first element matching a CSS selector, if any.
    pub fn try_find(&self, css: &str) -> Option<Element<'_>> {
        let locator = locator(css);
        match self.try_command(Call::Post(&locator), "/element") {
            Ok(value) => Some(self.element(&value)),
            Err(failure) if failure.error == "no such element" => None,
            Err(failure) => self.fail(Call::Post(&locator), "/element", &failure),
        }
    }

    /// Every element matching a CSS selector, in document order.
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        match self.command(Call::Post(&locator(css)), "/elements") {
            Value::Array(references) => references.iter().map(|r| self.element(r)).collect(),
            other => panic!("WebDriver POST /elements answered {other}, not a list"),
        }
    }

    /// The first element matching a CSS selector, waiting up to `timeout` for a script
    /// to add it; panics, naming the selector and the page, when none came.
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Element<'_> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(element) = self.try_find(css) {
                return element;
            }
            assert!(
                Instant::now() < deadline,
                "no element matches `{css}` within {timeout:?} on {}",
                self.page_for_messages()
            );
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Runs a script in the page and returns what it returns. The script is a function
    /// body: it reads `arguments[0]`… and ends with `return`; an [`Element`] is passed as
    /// [`Element::reference`]. A script that throws panics with its error.
    pub fn execute(&self, script: &str, args: &[Value]) -> Value {
        let body = json!({ "script": script, "args": args });
        self.command(Call::Post(&body), "/execute/sync")
    }

    /// The text of the open `alert`, `confirm` or `prompt` dialog, if one is open,
    /// including one raised while [`goto`](Self::goto) loaded the page. It stays open
    /// until [`dismiss_alert`](Self::dismiss_alert): commands other than these two fail
    /// while it is.
    pub fn alert_text(&self) -> Option<String> {
        match self.try_command(Call::Get, "/alert/text") {
            Ok(value) => Some(into_string(value, "/alert/text")),
            Err(failure) if failure.error == "no such alert" => None,
            Err(failure) => self.fail(Call::Get, "/alert/text", &failure),
        }
    }

    /// Closes the open dialog as its Cancel button would (`confirm` returns false);
    /// panics when none is open.
    pub fn dismiss_alert(&self) {
        self.command(Call::Post(&json!({})), "/alert/dismiss");
    }

    /// Resizes the window. The page's width, `window.innerWidth`, becomes `width` (even
    /// below the 500 px Chromium keeps its outer window at), so 375 shows a page as a
    /// phone would; its height is less than `height`.
    pub fn set_window_size(&self, width: u32, height: u32) {
        let rect = json!({ "width": width, "height": height });
        self.command(Call::Post(&rect), "/window/rect");
    }

    /// Saves a PNG of the viewport at `path`, creating its directory.
    pub fn screenshot(&self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        let encoded = into_string(self.command(Call::Get, "/screenshot"), "/screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap_or_else(|e| panic!("WebDriver's screenshot is not base64: {e}"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// The cookies visible to the page, as WebDriver describes them: `name`, `value`,
    /// `path`, `domain`, `secure`, `httpOnly`, `expiry` (Unix seconds, absent for a
    /// session cookie) and `sameSite`. HttpOnly cookies are included.
    pub fn cookies(&self) -> Vec<Value> {
        match self.command(Call::Get, "/cookie") {
            Value::Array(cookies) => cookies,
            other => panic!("WebDriver GET /cookie answered {other}, not a list"),
        }
    }

    /// Deletes every cookie visible to the page, so that the next request comes as from
    /// a new visitor.
    pub fn delete_cookies(&self) {
        self.command(Call::Delete, "/cookie");
    }

    /// Sends a command of the session; panics on failure.
    fn command(&self, call: Call<'_>, path: &str) -> Value {
        self.try_command(call, path)
            .unwrap_or_else(|failure| self.fail(call, path, &failure))
    }

    /// Sends a command of the session, for callers that expect some failures.
    fn try_command(&self, call: Call<'_>, path: &str) -> Result<Value, Failure> {
        exchange(&self.agent, call, &format!("{}{path}", self.session))
    }

    fn fail(&self, call: Call<'_>, path: &str, failure: &Failure) -> ! {
        panic!(
            "WebDriver {} {path}{}: {failure}\n  on {}",
            call.method(),
            call.body_for_messages(),
            self.page_for_messages()
        )
    }

    /// The page's URL for a failure's message; never fails (an open alert, for one,
    /// blocks asking).
    fn page_for_messages(&self) -> String {
        match self.try_command(Call::Get, "/url") {
            Ok(Value::String(url)) => url,
            Ok(other) => other.to_string(),
            Err(failure) => format!("a page whose URL is unknown ({failure})"),
        }
    }

    fn element(&self, reference: &Value) -> Element<'_> {
        let id = reference[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("not a WebDriver element reference: {reference}"));
        Element {
            browser: self,
            id: id.to_owned(),
        }
    }
}

impl Drop for Browser {
    /// Ends the session, which quits Chromium: killing chromedriver would leave it
    /// running. Errors are ignored, as this may run while a test panics.
    fn drop(&mut self) {
        let _ = self.try_command(Call::Delete, "");
    }
}

/// An element of the page it was found in, for as long as the page shows it (after
/// that its commands fail with "stale element reference").
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Element<'_> {
    /// Clicks the element's centre, scrolling it into view first, as a user would;
    /// panics when something else covers it there.
    pub fn click(&self) {
        self.command(Call::Post(&json!({})), "/click");
    }

    /// Types text into the element, focusing it first (it is appended to what the
    /// field holds). [`ENTER`] presses Enter.
    pub fn send_keys(&self, text: &str) {
        self.command(Call::Post(&json!({ "text": text })), "/value");
    }

    /// Empties an input or textarea.
    pub fn clear(&self) {
        self.command(Call::Post(&json!({})), "/clear");
    }

    /// The text a user sees in the element (hidden parts left out).
    pub fn text(&self) -> String {
        into_string(self.command(Call::Get, "/text"), "/text")
    }

    /// An HTML attribute as written in the markup (or set by `setAttribute`), `None`
    /// when absent. What the user typed into a field is its `value` [`property`].
    ///
    /// [`property`]: Self::property
    pub fn attribute(&self, name: &str) -> Option<String> {
        match self.command(Call::Get, &format!("/attribute/{name}")) {
            Value::Null => None,
            value => Some(into_string(value, "/attribute")),
        }
    }

    /// A DOM property (`value`, `checked`, `href` resolved to a full URL…), `null` when
    /// undefined.
    pub fn property(&self, name: &str) -> Value {
        self.command(Call::Get, &format!("/property/{name}"))
    }

    /// The element as an argument of [`Browser::execute`].
    pub fn reference(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    fn command(&self, call: Call<'_>, path: &str) -> Value {
        self.browser
            .command(call, &format!("/element/{}{path}", self.id))
    }
}

/// An HTTP request of the protocol, with its JSON body.
#[derive(Clone, Copy)]
enum Call<'a> {
    Get,
    Post(&'a Value),
    Delete,
}

impl Call<'_> {
    fn method(self) -> &'static str {
        match self {
            Call::Get => "GET",
            Call::Post(_) => "POST",
            Call::Delete => "DELETE",
        }
    }

    /// The body for a failure's message, shortened, after a space; empty without one.
    fn body_for_messages(self) -> String {
        match self {
            Call::Post(body) => format!(" {}", shorten(&body.to_string())),
            Call::Get | Call::Delete => String::new(),
        }
    }
}

/// A WebDriver error, or a failure to get an answer at all.
struct Failure {
    /// WebDriver's error code (`no such element`, `javascript error`…).
    error: String,
    message: String,
}

impl Failure {
    fn new(error: &str, message: impl fmt::Display) -> Failure {
        Failure {
            error: error.to_owned(),
            message: message.to_string(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // chromedriver ends each message with the same "(Session info: chrome=…)" line.
        let message = self
            .message
            .lines()
            .filter(|line| !line.trim_start().starts_with("(Session info:"))
            .collect::<Vec<_>>()
            .join("\n");
        if message.starts_with(&self.error) {
            f.write_str(&message)
        } else {
            write!(f, "{}: {message}", self.error)
        }
    }
}

/// Sends one request and returns the `value` of its answer, or the error it reports.
fn exchange(agent: &ureq::Agent, call: Call<'_>, url: &str) -> Result<Value, Failure> {
    let sent = match call {
        Call::Get => agent.get(url).call(),
        Call::Delete => agent.delete(url).call(),
        Call::Post(body) => agent
            .post(url)
            .header("Content-Type", "application/json; charset=utf-8")
            .send(body.to_string()),
    };
    let mut answer = sent.map_err(|e| Failure::new("no answer from chromedriver", e))?;
    let success = answer.status().is_success();
    let text = answer
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER_BYTES)
        .read_to_string()
        .map_err(|e| Failure::new("unreadable answer from chromedriver", e))?;
    let mut json: Value = serde_json::from_str(&text).map_err(|e| {
        Failure::new(
            "answer from chromedriver is not JSON",
            format!("{e}: {}", shorten(&text)),
        )
    })?;
    let value = json.get_mut("value").map(Value::take).unwrap_or_default();
    if success {
        return Ok(value);
    }
    Err(Failure {
        error: value["error"]
            .as_str()
            .unwrap_or("unknown error")
            .to_owned(),
        message: value["message"].as_str().unwrap_or_default().to_owned(),
    })
}

fn locator(css: &str) -> Value {
    json!({ "using": "css selector", "value": css })
}

fn into_string(value: Value, command: &str) -> String {
    match value {
        Value::String(text) => text,
        other => panic!("WebDriver {command} answered {other}, not a string"),
    }
}

/// Text for a failure's message, cut short: a request may carry a whole script.
fn shorten(text: &str) -> String {
    const LIMIT: usize = 300;
    match text.char_indices().nth(LIMIT) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// The end of chromedriver's log, which says why Chromium did not start.
fn last_lines(path: &Path, count: usize) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

/// Chromium's path, told to chromedriver so that the browser driven is the `chromium`
/// on PATH that `Need::Chromium` checked for.
fn chromium_binary() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("chromium"))
                .find(|path| path.is_file())
        })
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}
