//! The web UI in a real headless Chromium (through chromedriver), next to the real
//! `composer`: what a customer sees, what it can do on its profile, and that hostile
//! package text stays inert. Screenshots of the pages go to `target/screenshots/`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use serde_json::Value;
use testkit::browser::{Browser, Element};

const PASSWORD: &str = "correct horse battery";

/// Runs the CLI against the server's data and asserts it succeeded.
fn cli(server: &Server, args: &[&str]) -> String {
    let output = server.cli(args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        output_text(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Creates a user with a web password (`flags` as for `user add`); its API token.
fn add_user_with_password(server: &Server, name: &str, flags: &[&str]) -> String {
    let mut args = vec!["user", "add", name, "--password-stdin"];
    args.extend_from_slice(flags);
    let output = server.cli_input(&args, &format!("{PASSWORD}\n"));
    assert!(output.status.success(), "{}", output_text(&output));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned()
}

/// A package archive with a composer.json of `fields` (plus the name) and a README.
fn archive(name: &str, fields: &Value, readme: Option<&str>) -> Vec<u8> {
    let mut manifest = fields.clone();
    manifest["name"] = Value::from(name);
    let manifest = manifest.to_string();
    let mut entries = vec![Entry::File("composer.json", manifest.as_bytes())];
    if let Some(readme) = readme {
        entries.push(Entry::File("README.md", readme.as_bytes()));
    }
    zip(&entries)
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target dir")
        .join("screenshots")
}

fn log_in(browser: &Browser, server: &Server, user: &str) {
    browser.goto(&server.url("/login"));
    browser.find("#username").send_keys(user);
    browser.find("#password").send_keys(PASSWORD);
    browser.find("form.stacked button[type=submit]").click();
    browser.wait_for("header nav a[href='/profile']", Duration::from_secs(10));
}

fn texts(elements: &[Element<'_>]) -> Vec<String> {
    elements.iter().map(Element::text).collect()
}

/// One `h1`, a label for every field a person fills in, nothing wider than 375 px.
fn check_accessibility(browser: &Browser, page: &str) {
    let h1 = browser.find_all("h1").len();
    assert_eq!(h1, 1, "{page}: {h1} h1 elements");
    let unlabelled = browser.execute(
        "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
            .filter(f => !(f.labels && f.labels.length) && !f.getAttribute('aria-label'))
            .map(f => f.outerHTML);",
        &[],
    );
    assert_eq!(
        unlabelled,
        Value::Array(vec![]),
        "{page}: fields without a label"
    );
    browser.set_window_size(375, 800);
    let overflow = browser.execute(
        "return document.documentElement.scrollWidth - window.innerWidth;",
        &[],
    );
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "{page}: {overflow} px wider than 375 px"
    );
    browser.screenshot(screenshots().join(format!("web-{page}-375.png")));
    browser.set_window_size(1280, 900);
    browser.screenshot(screenshots().join(format!("web-{page}.png")));
}

#[test]
fn a_customer_browses_only_what_it_may_install_and_sets_up_composer() {
    testkit::needs!(Composer, Chromium);
    let server = Server::start();
    let admin = server.add_user("admin", true);
    add_user_with_password(&server, "carol", &[]);
    cli(&server, &["group", "add", "customers"]);
    cli(
        &server,
        &[
            "group",
            "grant",
            "customers",
            "acme/lib",
            "--versions",
            "^1.0",
        ],
    );
    cli(&server, &["group", "grant", "customers", "acme/parser"]);
    cli(
        &server,
        &["group", "members", "customers", "--add", "carol"],
    );

    let plain = serde_json::json!({"description": "A library", "license": "MIT"});
    for version in ["1.0.0", "1.1.0", "2.0.0"] {
        let reply = upload(
            &server,
            &admin,
            "acme/lib",
            version,
            &archive("acme/lib", &plain, None),
        );
        assert!(reply.status < 300, "{}", reply.text());
    }
    let secret = serde_json::json!({"description": "Internal only"});
    upload(
        &server,
        &admin,
        "acme/secret",
        "1.0.0",
        &archive("acme/secret", &secret, None),
    );
    let hostile = serde_json::json!({
        "description": "Parses YAML configuration <script>alert('description')</script>",
        "keywords": ["yaml"],
        "license": "MIT",
        "homepage": "javascript:alert('homepage')",
    });
    let readme = "# Parser\n\n<script>alert('readme')</script>\n\n<img src=x onerror=alert('img')>\n\n\
                  [click me](javascript:alert('link')) and [docs](https://example.com/docs)\n";
    let reply = upload(
        &server,
        &admin,
        "acme/parser",
        "1.0.0",
        &archive("acme/parser", &hostile, Some(readme)),
    );
    assert!(reply.status < 300, "{}", reply.text());

    let browser = Browser::start();
    // Not signed in: the list sends the browser to the login page.
    browser.goto(&server.url("/"));
    assert!(
        browser.current_url().contains("/login?next="),
        "{}",
        browser.current_url()
    );
    check_accessibility(&browser, "login");
    log_in(&browser, &server, "carol");

    // The list holds exactly the granted packages.
    browser.goto(&server.url("/"));
    let listed = texts(&browser.find_all(".packages .name"));
    assert_eq!(listed, ["acme/lib", "acme/parser"]);
    // Summarised from the versions it sees: 2.0.0 is not shown.
    let shown = texts(&browser.find_all(".packages .version"));
    assert_eq!(shown, ["1.1.0", "1.0.0"]);
    check_accessibility(&browser, "index");

    // Search finds a package by a word of its description.
    let search = browser.find("#q");
    search.clear();
    search.send_keys("configuration");
    browser.find("form.filters button").click();
    browser.wait_for(".count", Duration::from_secs(5));
    assert_eq!(texts(&browser.find_all(".packages .name")), ["acme/parser"]);

    // A package page lists only the versions the grant allows.
    browser.goto(&server.url("/packages/acme/lib"));
    let versions = texts(&browser.find_all(".versions summary .version"));
    assert_eq!(versions, ["1.1.0", "1.0.0"]);
    check_accessibility(&browser, "package");

    // Hostile description, homepage and README render inert.
    browser.goto(&server.url("/packages/acme/parser"));
    assert_eq!(browser.alert_text(), None, "a script ran");
    let scripts = browser.execute(
        "return [...document.querySelectorAll('script')].map(s => s.getAttribute('src'));",
        &[],
    );
    assert_eq!(scripts, serde_json::json!(["/assets/app.js"]));
    let readme_html = browser
        .find(".readme")
        .attribute("innerHTML")
        .unwrap_or_default();
    assert!(browser.find(".readme").text().contains("click me"));
    let links = browser.execute(
        "return [...document.querySelectorAll('a')].map(a => a.getAttribute('href')).filter(h => h !== null);",
        &[],
    );
    for href in links.as_array().unwrap() {
        let href = href.as_str().unwrap().to_ascii_lowercase();
        assert!(
            !href.trim_start().starts_with("javascript:"),
            "a javascript: link: {href} in {readme_html}"
        );
    }
    assert!(browser.try_find(".readme img[onerror]").is_none());
    assert!(
        browser.find(".description").text().contains("<script>"),
        "shown as text"
    );
    assert_eq!(browser.alert_text(), None, "a script ran");

    // A package it may not see is the same page as one that does not exist.
    let session = browser
        .cookies()
        .into_iter()
        .find(|c| c["name"] == "packyard_session")
        .expect("a session cookie");
    assert_eq!(session["httpOnly"], true);
    assert_eq!(session["sameSite"], "Lax");
    let cookie = format!("packyard_session={}", session["value"].as_str().unwrap());
    let forbidden = get(&server.url("/packages/acme/secret"), &[("Cookie", &cookie)]);
    let unknown = get(
        &server.url("/packages/acme/nothing"),
        &[("Cookie", &cookie)],
    );
    assert_eq!(forbidden.status, 404);
    assert_eq!(forbidden.body, unknown.body);
    let hidden_version_list = get(&server.url("/?q=secret"), &[("Cookie", &cookie)]);
    assert!(!hidden_version_list.text().contains("acme/secret"));

    // A token made on the profile page installs exactly what the grant allows.
    browser.goto(&server.url("/profile"));
    check_accessibility(&browser, "profile");
    assert!(
        browser
            .page_source()
            .contains(&format!("http-basic.{}", server.host()))
    );
    browser.find("#token-name").send_keys("laptop");
    browser.find("input[name=scope][value=metadata]").click();
    browser.find("#token-expires").send_keys("30d");
    browser
        .find("form[action='/profile/tokens'] button")
        .click();
    let token = browser
        .wait_for("#new-token", Duration::from_secs(10))
        .text();
    assert!(token.starts_with("pky_"), "{token}");
    browser.screenshot(screenshots().join("web-profile-new-token.png"));
    let token_names = texts(&browser.find_all("table.tokens tbody td:first-child"));
    assert!(
        token_names.contains(&"laptop".to_owned()),
        "{token_names:?}"
    );

    let project = ComposerProject::new(&server, "carol", &token);
    project.require("acme/lib");
    let lock = project.lock();
    assert_eq!(lock["packages"][0]["version"], "1.1.0");
    let refused = project.run(&["require", "acme/secret", "--no-audit"]);
    assert!(!refused.status.success());
    assert!(
        output_text(&refused).contains("Could not find a matching version of package acme/secret"),
        "{}",
        output_text(&refused)
    );

    // A form posted without its CSRF token is refused and changes nothing.
    let forged = post(
        &server.url("/profile/tokens"),
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        b"name=forged",
    );
    assert_eq!(forged.status, 403, "{}", forged.text());
    assert!(forged.text().contains("security token"));
    browser.goto(&server.url("/profile"));
    assert!(!browser.page_source().contains("forged"));

    // Logging out ends the session: the cookie no longer opens pages.
    browser.find("header form[action='/logout'] button").click();
    browser.wait_for("#username", Duration::from_secs(10));
    let after = get(&server.url("/profile"), &[("Cookie", &cookie)]);
    assert_eq!(after.status, 303);
    assert!(after.header("location").unwrap().starts_with("/login"));

    // Unknown pages are HTML for browsers and JSON for API clients.
    browser.goto(&server.url("/no/such/page"));
    assert!(browser.title().starts_with("Not found"));
    check_accessibility(&browser, "404");
    let api = get(&server.url("/no/such/page"), &[]);
    assert_eq!(api.status, 404);
    assert_eq!(api.json()["status"], "error");
}

/// The login form: fetches it and returns its CSRF token and cookie.
fn login_form(server: &Server, extra: &[(&str, &str)]) -> (String, String) {
    let page = get(&server.url("/login"), extra);
    let cookie = page
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("packyard_login_csrf="))
        .expect("a login CSRF cookie");
    let value = cookie.split(';').next().unwrap().to_owned();
    let csrf = value.trim_start_matches("packyard_login_csrf=").to_owned();
    (csrf, value)
}

fn try_login(server: &Server, user: &str, password: &str, extra: &[(&str, &str)]) -> Reply {
    let (csrf, cookie) = login_form(server, extra);
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &csrf)
        .append_pair("username", user)
        .append_pair("password", password)
        .finish();
    let mut headers = vec![
        ("Cookie", cookie.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    headers.extend_from_slice(extra);
    post(&server.url("/login"), &headers, body.as_bytes())
}

fn session_cookie(reply: &Reply) -> Option<String> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("packyard_session=") && !v.starts_with("packyard_session=;"))
}

#[test]
fn logins_are_limited_sessions_end_everywhere_and_api_users_cannot_log_in() {
    let server = Server::start();
    add_user_with_password(&server, "dave", &[]);
    server.add_plain_user("robot", &[]);

    // API-only users cannot log in, with the same answer as a wrong password.
    let robot = try_login(&server, "robot", PASSWORD, &[]);
    let nobody = try_login(&server, "nobody", PASSWORD, &[]);
    assert_eq!(robot.status, 401);
    assert_eq!(nobody.status, 401);
    assert!(robot.text().contains("Wrong user name or password"));
    assert!(session_cookie(&robot).is_none());

    // Without the login form's CSRF token, no login.
    let forged = post(
        &server.url("/login"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        format!("username=dave&password={PASSWORD}").as_bytes(),
    );
    assert_eq!(forged.status, 403);

    // Behind https the cookie is Secure; it is always HttpOnly and SameSite=Lax.
    let secure = try_login(&server, "dave", PASSWORD, &[("X-Forwarded-Proto", "https")]);
    assert_eq!(secure.status, 303, "{}", secure.text());
    let cookie = session_cookie(&secure).unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let plain = session_cookie(&try_login(&server, "dave", PASSWORD, &[])).unwrap();
    assert!(!plain.contains("Secure"), "{plain}");
    let session = plain.split(';').next().unwrap().to_owned();
    assert_eq!(
        get(&server.url("/profile"), &[("Cookie", &session)]).status,
        200
    );

    // A new password ends the user's sessions on every replica (they live in the DB).
    let output = server.cli_input(&["user", "passwd", "dave"], "another password\n");
    assert!(output.status.success(), "{}", output_text(&output));
    assert_eq!(
        get(&server.url("/profile"), &[("Cookie", &session)]).status,
        303
    );
    let short = server.cli_input(&["user", "passwd", "dave"], "short\n");
    assert!(!short.status.success());
    assert!(
        output_text(&short).contains("too short"),
        "{}",
        output_text(&short)
    );

    // Five wrong passwords for one user, then even the right one waits.
    for _ in 0..5 {
        assert_eq!(
            try_login(&server, "dave", "wrong password", &[]).status,
            401
        );
    }
    let limited = try_login(&server, "dave", "another password", &[]);
    assert_eq!(limited.status, 429, "{}", limited.text());
    assert!(
        limited
            .text()
            .contains("Too many failed logins for this user: try again in 15 minutes")
    );
    assert!(session_cookie(&limited).is_none());

    // Removing a user ends its sessions too.
    add_user_with_password(&server, "erin", &[]);
    let erin = session_cookie(&try_login(&server, "erin", PASSWORD, &[])).unwrap();
    let erin = erin.split(';').next().unwrap().to_owned();
    assert_eq!(
        get(&server.url("/profile"), &[("Cookie", &erin)]).status,
        200
    );
    cli(&server, &["user", "remove", "erin"]);
    assert_eq!(
        get(&server.url("/profile"), &[("Cookie", &erin)]).status,
        303
    );
}
