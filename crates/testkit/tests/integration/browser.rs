//! Self-test of the WebDriver client: a headless Chromium loads a page from a tiny
//! HTTP server of this test, and every command of `testkit::browser` is tried on it.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use serde_json::json;
use testkit::browser::{Browser, ENTER, Element};

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>testkit browser</title></head>
<body>
  <input id="name" name="name" value="preset">
  <button id="greet" onclick="document.getElementById('greeting').textContent = 'Hello, ' + document.getElementById('name').value">Greet</button>
  <p id="greeting"></p>
  <button id="alert" onclick="alert('x')">Alert</button>
  <button id="later" onclick="setTimeout(() => document.body.insertAdjacentHTML('beforeend', '<p id=late>late</p>'), 300)">Later</button>
  <form onsubmit="document.getElementById('greeting').textContent = 'submitted'; return false"><input id="enter"></form>
  <ul><li>one</li><li>two</li><li>three</li></ul>
  <a id="link" href="/elsewhere" data-kind="internal">elsewhere</a>
</body>
</html>
"#;

/// A page whose inline script raises an alert while it loads, as an XSS payload would.
const ALERTING_PAGE: &str = "<!doctype html><title>alerting</title><script>alert('xss')</script>";

/// Serves `PAGE` at `/`, `ALERTING_PAGE` at `/alerting` (and 404 elsewhere) on 127.0.0.1 from a thread that lives as
/// long as the test process; returns the page's URL.
fn serve_page() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            // A connection that goes wrong only fails what Chromium shows.
            let _ = respond(stream);
        }
    });
    url
}

/// Answers one HTTP/1.1 request and closes the connection.
fn respond(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Chromium's GETs have no body: the request ends with the empty line.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 0 && header != "\r\n" {
        header.clear();
    }
    let (status, body) = match request_line.split(' ').nth(1) {
        Some("/") => ("200 OK", PAGE),
        Some("/alerting") => ("200 OK", ALERTING_PAGE),
        _ => ("404 Not Found", "not found"),
    };
    write!(
        reader.get_mut(),
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nSet-Cookie: visited=yes; Path=/; HttpOnly\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    reader.get_mut().flush()
}

#[test]
fn drives_headless_chromium() {
    testkit::needs!(Chromium);
    let url = serve_page();
    let browser = Browser::start();

    browser.goto(&url);
    assert_eq!(browser.current_url(), url);
    assert_eq!(browser.title(), "testkit browser");
    assert!(browser.page_source().contains(r#"<p id="greeting"></p>"#));

    // Typing, clicking and reading back what the page's script wrote.
    let name = browser.find("#name");
    assert_eq!(name.attribute("value").as_deref(), Some("preset"));
    name.clear();
    name.send_keys("Ada <b>Lovelace</b>");
    assert_eq!(name.property("value"), json!("Ada <b>Lovelace</b>"));
    // The attribute is the markup's; what was typed is only in the property.
    assert_eq!(name.attribute("value").as_deref(), Some("preset"));
    browser.find("#greet").click();
    assert_eq!(
        browser.find("#greeting").text(),
        "Hello, Ada <b>Lovelace</b>"
    );
    browser.find("#enter").send_keys(&format!("go{ENTER}"));
    assert_eq!(browser.find("#greeting").text(), "submitted");

    // Finding several elements, or none.
    let items: Vec<String> = browser.find_all("li").iter().map(Element::text).collect();
    assert_eq!(items, ["one", "two", "three"]);
    assert!(browser.find_all("table").is_empty());
    assert!(browser.try_find("#missing").is_none());
    let link = browser.find("#link");
    assert_eq!(link.attribute("data-kind").as_deref(), Some("internal"));
    assert_eq!(link.attribute("title"), None);
    assert_eq!(link.property("href"), json!(format!("{url}elsewhere")));

    // Waiting for an element a script adds later.
    browser.find("#later").click();
    assert!(browser.try_find("#late").is_none());
    let late = browser.wait_for("#late", Duration::from_secs(5));
    assert_eq!(late.text(), "late");

    // Alerts: none until the page raises one, which stays open until dismissed.
    assert_eq!(browser.alert_text(), None);
    browser.find("#alert").click();
    assert_eq!(browser.alert_text().as_deref(), Some("x"));
    browser.dismiss_alert();
    assert_eq!(browser.alert_text(), None);

    // Scripts, with arguments and elements.
    let sum = browser.execute("return arguments[0] + arguments[1]", &[json!(2), json!(3)]);
    assert_eq!(sum, json!(5));
    let tag = browser.execute("return arguments[0].tagName", &[link.reference()]);
    assert_eq!(tag, json!("A"));

    // A phone's width.
    browser.set_window_size(375, 800);
    assert_eq!(browser.execute("return window.innerWidth", &[]), json!(375));

    // Cookies, including the HttpOnly one the server set.
    let cookies = browser.cookies();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert_eq!(cookies[0]["name"], "visited");
    assert_eq!(cookies[0]["value"], "yes");
    assert_eq!(cookies[0]["httpOnly"], true);
    browser.delete_cookies();
    assert!(browser.cookies().is_empty());

    // A screenshot under the workspace's target directory (CARGO_TARGET_TMPDIR is its
    // tmp subdirectory), to look at when a test fails.
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots/testkit-browser.png");
    let _ = std::fs::remove_file(&screenshot);
    browser.screenshot(&screenshot);
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        screenshot.display()
    );

    // An alert raised while a page loads is still open after `goto`.
    browser.goto(&format!("{url}alerting"));
    assert_eq!(browser.alert_text().as_deref(), Some("xss"));
    browser.dismiss_alert();
    assert_eq!(browser.title(), "alerting");
}

#[test]
fn failures_name_the_selector_and_the_page() {
    testkit::needs!(Chromium);
    let url = serve_page();
    let browser = Browser::start();
    browser.goto(&url);

    let failure = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        browser.find("#missing");
    }))
    .unwrap_err();
    let message = failure.downcast_ref::<String>().unwrap();
    assert_eq!(message, &format!("no element matches `#missing` on {url}"));

    let failure = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        browser.execute("throw new Error('boom')", &[]);
    }))
    .unwrap_err();
    let message = failure.downcast_ref::<String>().unwrap();
    assert!(
        message.starts_with("WebDriver POST /execute/sync {")
            && message.contains("javascript error")
            && message.contains("boom")
            && message.ends_with(&format!("on {url}")),
        "{message}"
    );
}
