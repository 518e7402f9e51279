//! The web UI in a real headless Chromium (through chromedriver), next to the real
//! `composer`: what a customer sees, what it can do on its profile, and that hostile
//! package text stays inert. Screenshots of the pages go to `target/screenshots/`.

use std::io::{Read, Write};
use std::time::Duration;

use crate::common::*;
use serde_json::Value;
use testkit::browser::{Browser, Element};

pub(crate) const PASSWORD: &str = "correct horse battery";

/// Runs the CLI against the server's data and asserts it succeeded.
fn cli(server: &Server, args: &[&str]) -> String {
    server.cli_ok(args)
}

/// Creates a user with a web password (`flags` as for `user add`); its API token.
pub(crate) fn add_user_with_password(server: &Server, name: &str, flags: &[&str]) -> String {
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
pub(crate) fn archive(name: &str, fields: &Value, readme: Option<&str>) -> Vec<u8> {
    let mut manifest = fields.clone();
    manifest["name"] = Value::from(name);
    let manifest = manifest.to_string();
    let mut entries = vec![Entry::File("composer.json", manifest.as_bytes())];
    if let Some(readme) = readme {
        entries.push(Entry::File("README.md", readme.as_bytes()));
    }
    zip(&entries)
}

pub(crate) fn log_in(browser: &Browser, server: &Server, user: &str) {
    browser.goto(&server.url("/login"));
    browser.find("#username").send_keys(user);
    browser.find("#password").send_keys(PASSWORD);
    submit(browser, "form.stacked button[type=submit]");
    browser.wait_for("header nav a[href='/profile']", Duration::from_secs(10));
}

/// Waits until the page that was current when a form was submitted has been replaced.
/// Call [`mark_page`] before submitting.
pub(crate) fn wait_for_new_page(browser: &Browser) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while browser.execute(
        "return window.__packyardOldPage === true || document.readyState !== 'complete';",
        &[],
    ) == Value::Bool(true)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no new page after submitting"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Marks the current page, so that [`wait_for_new_page`] can tell it was replaced.
pub(crate) fn mark_page(browser: &Browser) {
    browser.execute("window.__packyardOldPage = true;", &[]);
}

/// Clicks a form's submit button and waits for the page the answer loads.
pub(crate) fn submit(browser: &Browser, button: &str) {
    mark_page(browser);
    browser.find(button).click();
    wait_for_new_page(browser);
}

pub(crate) fn texts(elements: &[Element<'_>]) -> Vec<String> {
    elements.iter().map(Element::text).collect()
}

/// One `h1`, a label for every field a person fills in, nothing wider than 375 px.
pub(crate) fn check_accessibility(browser: &Browser, page: &str) {
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
    let admin = add_user_with_password(&server, "admin", &["--admin"]);

    let plain = serde_json::json!({"description": "A library", "license": "MIT"});
    for version in ["1.0.0", "1.1.0"] {
        let reply = upload(
            &server,
            &admin,
            "acme/lib",
            version,
            &archive("acme/lib", &plain, None),
        );
        assert!(reply.status < 300, "{}", reply.text());
    }
    // 2.0.0, hidden from the customer, has another type and description.
    let bundle = serde_json::json!({"description": "Now a bundle", "type": "symfony-bundle"});
    let reply = upload(
        &server,
        &admin,
        "acme/lib",
        "2.0.0",
        &archive("acme/lib", &bundle, None),
    );
    assert!(reply.status < 300, "{}", reply.text());
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

    // The admin creates a group with a constrained grant, then a customer in it.
    log_in(&browser, &server, "admin");
    browser.goto(&server.url("/admin/groups"));
    browser.find("#group-name").send_keys("customers");
    submit(&browser, "form[action='/admin/groups'] button");
    browser.wait_for("#grant-package", Duration::from_secs(10));
    for (package, versions) in [("acme/lib", "^1.0"), ("acme/parser", "")] {
        browser.find("#grant-package").send_keys(package);
        browser.find("#grant-versions").send_keys(versions);
        submit(&browser, "form[action$='/grants'] button");
        browser.wait_for("table.grants", Duration::from_secs(10));
    }
    let grants = texts(&browser.find_all("table.grants tbody tr"));
    assert_eq!(grants.len(), 2, "{grants:?}");
    assert!(
        grants[0].contains("acme/lib") && grants[0].contains("^1.0"),
        "{grants:?}"
    );
    check_accessibility(&browser, "admin-group");
    browser.goto(&server.url("/admin/users"));
    // A user created in the browser gets no token unless the admin asks for one: its
    // tokens are its own to make.
    browser.find("#user-name").send_keys("carol");
    browser.find("#user-password").send_keys(PASSWORD);
    submit(&browser, "form[action='/admin/users'] button");
    let created = browser.find("div.message.ok").text();
    assert!(
        created.contains("carol") && created.contains("without an API token"),
        "{created}"
    );
    assert!(browser.find_all("#new-user-token").is_empty());
    assert!(
        token_list(&server, "carol").trim().is_empty(),
        "{}",
        token_list(&server, "carol")
    );
    check_accessibility(&browser, "admin-users");
    // Asked for, with the scope Composer needs (checked by default), and a group.
    browser.find("#user-name").send_keys("dave");
    browser.find("input[name=group][value=customers]").click();
    browser.find("input[name=token]").click();
    submit(&browser, "form[action='/admin/users'] button");
    let first_token = browser
        .wait_for("#new-user-token", Duration::from_secs(10))
        .text();
    assert!(first_token.starts_with("pky_"));
    let tokens = token_list(&server, "dave");
    assert!(
        tokens.contains("default") && tokens.contains("metadata") && !tokens.contains("users"),
        "{tokens}"
    );
    let dave = cli(&server, &["user", "list"]);
    assert!(
        dave.lines()
            .any(|l| l.contains("dave") && l.contains("customers")),
        "{dave}"
    );
    check_accessibility(&browser, "admin-users-token");
    browser.goto(&server.url("/admin/users/carol"));
    browser.find("input[name=group][value=customers]").click();
    submit(&browser, "form[action='/admin/users/carol'] button");
    // Saved: the page, loaded afresh, shows the membership.
    wait_for_new_page(&browser);
    browser.wait_for(
        "input[name=group][value=customers]:checked",
        Duration::from_secs(10),
    );
    check_accessibility(&browser, "admin-user");
    browser.goto(&server.url("/admin/storage"));
    let stores = texts(&browser.find_all("table.tokens tbody tr"));
    assert!(
        stores.len() >= 2 && stores.iter().all(|s| s.ends_with("not checked")),
        "{stores:?}"
    );
    submit(&browser, "form[action='/admin/storage'] button");
    let stores = texts(&browser.find_all("table.tokens tbody tr"));
    assert!(
        stores.len() >= 2 && stores.iter().all(|s| s.ends_with("ok")),
        "{stores:?}"
    );
    check_accessibility(&browser, "admin-storage");
    browser.goto(&server.url("/admin/jobs"));
    check_accessibility(&browser, "admin-jobs");
    browser.goto(&server.url("/admin/mirrors"));
    check_accessibility(&browser, "admin-mirrors");
    browser.goto(&server.url("/admin/packages"));
    let listed = texts(&browser.find_all("table.tokens tbody td:first-child"));
    assert_eq!(listed, ["acme/lib", "acme/parser", "acme/secret"]);
    check_accessibility(&browser, "admin-packages");
    // An admin uploads a zip from the packages page.
    let zip_dir = testkit::TempDir::new("web-upload");
    let zip_path = zip_dir.path().join("tool.zip");
    let tool = serde_json::json!({"description": "Uploaded from a browser", "version": "0.3.0"});
    std::fs::write(&zip_path, archive("acme/tool", &tool, None)).unwrap();
    browser
        .find("#upload-file")
        .send_keys(zip_path.to_str().unwrap());
    submit(&browser, "form[action='/admin/packages/upload'] button");
    // The admin stays on the packages page for the next upload; the notice links to
    // the package.
    assert!(
        browser
            .current_url()
            .contains("/admin/packages?done=uploaded"),
        "{}",
        browser.current_url()
    );
    let notice = browser.find("p.message.ok[role=status]").text();
    assert!(notice.contains("Uploaded acme/tool 0.3.0"), "{notice}");
    mark_page(&browser);
    browser
        .find("p.message.ok a[href='/packages/acme/tool']")
        .click();
    wait_for_new_page(&browser);
    assert_eq!(
        texts(&browser.find_all(".versions summary .version")),
        ["0.3.0"]
    );
    // Deleting needs the name typed; then the package is gone here at once.
    browser.find("#delete-confirm").send_keys("acme/tools");
    submit(&browser, "form[action$='/delete'] button");
    assert!(
        browser.title().starts_with("Cannot do that"),
        "{}",
        browser.title()
    );
    browser.goto(&server.url("/packages/acme/tool"));
    browser.find("#delete-confirm").send_keys("acme/tool");
    submit(&browser, "form[action$='/delete'] button");
    assert!(
        browser.current_url().ends_with("/admin/packages"),
        "{}",
        browser.current_url()
    );
    browser.goto(&server.url("/packages/acme/tool"));
    assert!(
        browser.title().starts_with("Not found"),
        "{}",
        browser.title()
    );
    browser.goto(&server.url("/"));
    // Kept for a forged upload below (the admin logs in again elsewhere, so this
    // session stays valid).
    let admin_cookie = {
        let login = try_login(&server, "admin", PASSWORD, &[]);
        let session = session_cookie(&login).unwrap();
        session.split(';').next().unwrap().to_owned()
    };
    submit(&browser, "header form[action='/logout'] button");
    browser.wait_for("#username", Duration::from_secs(10));

    log_in(&browser, &server, "carol");
    // Admin pages are for admins.
    browser.goto(&server.url("/admin/users"));
    assert!(
        browser.title().starts_with("Not allowed"),
        "{}",
        browser.title()
    );

    // The list holds exactly the granted packages.
    browser.goto(&server.url("/"));
    let listed = texts(&browser.find_all(".packages .name"));
    assert_eq!(listed, ["acme/lib", "acme/parser"]);
    // Summarised from the versions it sees: 2.0.0 is not shown.
    let shown = texts(&browser.find_all(".packages .version"));
    assert_eq!(shown, ["1.1.0", "1.0.0"]);
    check_accessibility(&browser, "index");

    // Search finds a package by a word of its description: as you type (the script
    // swaps the list in place, the page stays), and by submitting the form.
    mark_page(&browser);
    browser.find("#q").send_keys("configuration");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // Read in one script: the list may be swapped between two WebDriver calls.
    let listed_now = || {
        browser.execute(
            "return [...document.querySelectorAll('.packages .name')].map(e => e.textContent);",
            &[],
        )
    };
    while listed_now() != serde_json::json!(["acme/parser"]) {
        assert!(
            std::time::Instant::now() < deadline,
            "the list did not follow the typing"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        browser.execute("return window.__packyardOldPage === true;", &[]),
        true
    );
    assert!(
        browser.current_url().ends_with("q=configuration"),
        "{}",
        browser.current_url()
    );
    let search = browser.find("#q");
    search.clear();
    search.send_keys("yaml");
    submit(&browser, "form.filters button");
    assert_eq!(texts(&browser.find_all(".packages .name")), ["acme/parser"]);
    assert!(
        browser.current_url().contains("q=yaml"),
        "{}",
        browser.current_url()
    );

    // A package page lists only the versions the grant allows.
    browser.goto(&server.url("/packages/acme/lib"));
    let versions = texts(&browser.find_all(".versions summary .version"));
    assert_eq!(versions, ["1.1.0", "1.0.0"]);
    check_accessibility(&browser, "package");

    // Hostile description, homepage and README render inert.
    browser.goto(&server.url("/packages/acme/parser"));
    assert_eq!(browser.alert_text(), None, "a script ran");
    // Its README's `# Parser` is an h2 below the page's own h1.
    assert_eq!(texts(&browser.find_all("h1")), ["acme/parser"]);
    assert_eq!(texts(&browser.find_all(".readme h2")), ["Parser"]);
    browser.screenshot(screenshots().join("web-package-readme.png"));
    let scripts = browser.execute(
        "return [...document.querySelectorAll('script')].map(s => s.getAttribute('src'));",
        &[],
    );
    let scripts: Vec<&str> = scripts
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(
        matches!(&scripts[..], [one] if hashed_asset(one, "app", "js").is_some()),
        "{scripts:?}"
    );
    // The hashed stylesheet is loaded under the page's Content-Security-Policy.
    let rules = browser.execute(
        "return [...document.styleSheets].map(s => s.cssRules.length);",
        &[],
    );
    assert!(
        matches!(rules.as_array().map(Vec::as_slice), Some([n]) if n.as_u64() > Some(0)),
        "{rules}"
    );
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
    // Filters and search look at what the customer sees, never at a hidden version.
    let as_bundle = get(&server.url("/?type=symfony-bundle"), &[("Cookie", &cookie)]).text();
    assert!(!as_bundle.contains("acme/lib"), "{as_bundle}");
    let as_library = get(&server.url("/?type=library"), &[("Cookie", &cookie)]).text();
    assert!(as_library.contains("acme/lib"), "{as_library}");
    let by_hidden_words = get(&server.url("/?q=bundle"), &[("Cookie", &cookie)]).text();
    assert!(!by_hidden_words.contains("acme/lib"), "{by_hidden_words}");
    let vendor_bundle = get(
        &server.url("/packages/acme/?type=symfony-bundle"),
        &[("Cookie", &cookie)],
    );
    assert_eq!(vendor_bundle.status, 200);
    assert!(!vendor_bundle.text().contains("acme/lib"));
    let too_long = get(
        &server.url(&format!("/?q={}", "a".repeat(201))),
        &[("Cookie", &cookie)],
    );
    assert_eq!(too_long.status, 400);
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
    submit(&browser, "form[action='/profile/tokens'] button");
    let token = browser
        .wait_for("#new-token", Duration::from_secs(10))
        .text();
    assert!(token.starts_with("pky_"), "{token}");
    // The set-up commands carry it, ready to copy.
    let setup = browser.page_source();
    assert!(
        setup.contains(&format!("http-basic.{} carol {token}", server.host()))
            && !setup.contains("YOUR_TOKEN"),
        "the set-up still says YOUR_TOKEN"
    );
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
    // The install counts, for the versions the customer sees, on the package page.
    let page = get(&server.url("/packages/acme/lib"), &[("Cookie", &cookie)]).text();
    assert!(
        page.contains("installs-total\">1<") && page.contains("installs-30\">1<"),
        "{page}"
    );
    assert!(
        page.contains("<title>") && page.contains(": 1</title>"),
        "a bar for today: {page}"
    );
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
    let forged_upload = post(
        &server.url("/admin/packages/upload"),
        &[("Cookie", &admin_cookie), ("Content-Type", "multipart/form-data; boundary=X")],
        b"--X\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.zip\"\r\n\r\nPK\r\n--X--\r\n",
    );
    assert_eq!(forged_upload.status, 403, "{}", forged_upload.text());
    browser.goto(&server.url("/profile"));
    assert!(!browser.page_source().contains("forged"));

    // Logging out ends the session: the cookie no longer opens pages.
    submit(&browser, "header form[action='/logout'] button");
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

/// The login form: fetches it and returns its CSRF token and cookie (`name=value`).
/// The session cookie a reply sets (`__Host-packyard_session` behind https).

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

    // Behind https the cookie is Secure and __Host-; it is always HttpOnly and
    // SameSite=Lax.
    let secure = try_login(&server, "dave", PASSWORD, &[("X-Forwarded-Proto", "https")]);
    assert_eq!(secure.status, 303, "{}", secure.text());
    let cookie = session_cookie(&secure).unwrap();
    assert!(cookie.starts_with("__Host-packyard_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let plain = session_cookie(&try_login(&server, "dave", PASSWORD, &[])).unwrap();
    assert!(!plain.contains("Secure"), "{plain}");
    assert!(plain.starts_with("packyard_session="), "{plain}");
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

    // Five wrong passwords for one user, then even the right one waits (from the
    // address that failed).
    for _ in 0..5 {
        assert_eq!(
            try_login(&server, "dave", "wrong password", &[]).status,
            401
        );
    }
    let limited = try_login(&server, "dave", "another password", &[]);
    assert_eq!(limited.status, 429, "{}", limited.text());
    assert!(limited.text().contains(
        "Too many failed logins for this user from your address: try again in 15 minutes"
    ));
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

/// The value of the first `name="csrf"` field of a page.
fn csrf_of(page: &Reply) -> String {
    let text = page.text();
    let start = text.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    text[start..start + text[start..].find('"').unwrap()].to_owned()
}

#[test]
fn maintainers_update_a_git_package_from_its_page_and_see_skipped_refs() {
    testkit::needs!(Git);
    let (server, token) = server_with_maintainer(&[]);
    let (repo, _) = crate::common::git::library("acme/lib", "1.0.0");
    repo.write("composer.json", "{ not json");
    repo.commit("broken");
    repo.tag("1.1.0");
    repo.write_library("acme/lib", "1.2.0", Value::Null);
    repo.commit("fixed");
    let created = create_package(
        &server,
        "maintainer",
        &token,
        &serde_json::json!({"url": repo.url()}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let output = server.cli_input(&["user", "passwd", "maintainer"], &format!("{PASSWORD}\n"));
    assert!(output.status.success(), "{}", output_text(&output));
    let login = try_login(&server, "maintainer", PASSWORD, &[]);
    let session = session_cookie(&login).unwrap();
    let cookie = session.split(';').next().unwrap().to_owned();

    // The page tells why a ref gives no version, and offers an update.
    let page = get(&server.url("/packages/acme/lib"), &[("Cookie", &cookie)]);
    assert_eq!(page.status, 200);
    let text = page.text();
    assert!(text.contains("Update now"), "{text}");
    assert!(
        text.contains("<code>1.1.0</code>"),
        "the broken tag is listed: {text}"
    );

    // A new tag, then "update now": the page follows the job until it succeeds.
    repo.tag("1.2.0");
    let update = post(
        &server.url("/packages/acme/lib/update"),
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        format!("csrf={}", csrf_of(&page)).as_bytes(),
    );
    assert_eq!(update.status, 303, "{}", update.text());
    let location = update.header("location").unwrap();
    assert!(
        location.starts_with("/packages/acme/lib?job="),
        "{location}"
    );
    // From a sub-repository's page, the update stays there; what is not a slug does
    // not reach the URL.
    for (subrepo, kept) in [("client-a", true), ("x%26next%3D%2F%2Fevil", false)] {
        let within = post(
            &server.url("/packages/acme/lib/update"),
            &[
                ("Cookie", &cookie),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            format!("csrf={}&subrepo={subrepo}", csrf_of(&page)).as_bytes(),
        );
        let at = within.header("location").unwrap();
        assert_eq!(at.ends_with("&subrepo=client-a"), kept, "{at}");
        assert!(!at.contains("evil"), "{at}");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let followed = loop {
        let page = get(&server.url(&location), &[("Cookie", &cookie)]).text();
        if page.contains("job-state\">succeeded") {
            break page;
        }
        assert!(
            page.contains("http-equiv=\"refresh\""),
            "a pending job reloads: {page}"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the update did not finish: {page}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(!followed.contains("http-equiv=\"refresh\""));
    assert!(
        followed.contains("<span class=\"version\">1.2.0</span>"),
        "{followed}"
    );

    // A maintainer adds a git repository from the packages page.
    let (other, _) = crate::common::git::library("acme/other", "1.0.0");
    let list = get(&server.url("/admin/packages"), &[("Cookie", &cookie)]);
    assert_eq!(list.status, 200, "{}", list.text());
    let form = |url: &str| {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf", &csrf_of(&list))
            .append_pair("url", url)
            .finish()
    };
    let form_headers = [
        ("Cookie", cookie.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let added = post(
        &server.url("/admin/packages"),
        &form_headers,
        form(&other.url()).as_bytes(),
    );
    assert_eq!(added.status, 303, "{}", added.text());
    assert_eq!(
        added.header("location").as_deref(),
        Some("/packages/acme/other")
    );
    let bad = post(
        &server.url("/admin/packages"),
        &form_headers,
        form("ftp://nowhere").as_bytes(),
    );
    assert_eq!(bad.status, 400);
    assert!(
        bad.text().contains("ftp://nowhere"),
        "the form keeps the URL: {}",
        bad.text()
    );
    let list = get(&server.url("/admin/packages"), &[("Cookie", &cookie)]).text();
    assert!(
        list.contains("acme/other") && list.contains("acme/lib"),
        "{list}"
    );
    // Jobs and storage are for admins.
    assert_eq!(
        get(&server.url("/admin/jobs"), &[("Cookie", &cookie)]).status,
        403
    );

    // Customers see no update panel and cannot post one.
    add_user_with_password(&server, "frank", &["--full-access"]);
    let frank = session_cookie(&try_login(&server, "frank", PASSWORD, &[])).unwrap();
    let frank = frank.split(';').next().unwrap().to_owned();
    let page = get(&server.url("/packages/acme/lib"), &[("Cookie", &frank)]);
    assert!(!page.text().contains("Update now"));
    let refused = post(
        &server.url("/packages/acme/lib/update"),
        &[
            ("Cookie", &frank),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        format!("csrf={}", csrf_of(&page)).as_bytes(),
    );
    assert_eq!(refused.status, 403, "{}", refused.text());
}

#[test]
fn admins_approve_packages_for_a_strict_mirror_from_the_mirrors_page() {
    let dir = testkit::TempDir::new("web-mirrors");
    let config = dir.path().join("config.yaml");
    // The upstream is never asked: approvals and the page need only the configuration.
    // Its URL carries a token as its user name, which the page must not show.
    std::fs::write(
        &config,
        "mirrors:\n  packagist: false\n  partner:\n    url: http://T0KEN-abc@127.0.0.1:9/upstream\n    strict: true\n",
    )
    .unwrap();
    let server = Server::start_with(&[("PACKYARD_CONFIG", config.to_str().unwrap())]);
    let token = add_user_with_password(&server, "root", &["--admin"]);
    let session = session_cookie(&try_login(&server, "root", PASSWORD, &[])).unwrap();
    let cookie = session.split(';').next().unwrap().to_owned();

    let page = get(&server.url("/admin/mirrors"), &[("Cookie", &cookie)]);
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(
        page.text().contains("http://127.0.0.1:9/upstream"),
        "{}",
        page.text()
    );
    assert!(!page.text().contains("T0KEN"), "{}", page.text());
    assert!(
        page.text()
            .contains("serves nothing until packages are approved")
    );
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &csrf_of(&page))
        .append_pair("packages", "acme/one\nAcme/Two")
        .finish();
    let headers = [
        ("Cookie", cookie.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let approved = post(
        &server.url("/admin/mirrors/partner/approve"),
        &headers,
        body.as_bytes(),
    );
    assert_eq!(approved.status, 303, "{}", approved.text());
    let page = get(&server.url("/admin/mirrors"), &[("Cookie", &cookie)]).text();
    assert!(page.contains("acme/one, acme/two"), "{page}");

    let bad = form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "csrf",
            &csrf_of(&get(&server.url("/admin/mirrors"), &[("Cookie", &cookie)])),
        )
        .append_pair("packages", "not-a-name")
        .finish();
    let refused = post(
        &server.url("/admin/mirrors/partner/approve"),
        &headers,
        bad.as_bytes(),
    );
    assert_eq!(refused.status, 400);
    assert!(refused.text().contains("not-a-name"), "{}", refused.text());
    let unknown = post(
        &server.url("/admin/mirrors/nowhere/approve"),
        &headers,
        bad.as_bytes(),
    );
    assert_eq!(unknown.status, 404);

    // The page tells when the upstream last answered, and why it fails now.
    let page = get(&server.url("/admin/mirrors"), &[("Cookie", &cookie)]).text();
    assert!(page.contains("not since this server started"), "{page}");
    assert!(!page.contains("class=\"failure\""), "{page}");
    let through = get(
        &server.url("/mirror/partner/p2/acme/one.json"),
        &[("Authorization", &basic("root", &token))],
    );
    assert_eq!(through.status, 502, "{}", through.text());
    let page = get(&server.url("/admin/mirrors"), &[("Cookie", &cookie)]).text();
    assert!(page.contains("class=\"failure\""), "{page}");
    assert!(
        page.contains("127.0.0.1:9"),
        "the failing URL is named: {page}"
    );
}

#[test]
fn behind_a_trusted_proxy_logins_are_limited_per_client_address() {
    let server = Server::start_with(&[("PACKYARD_TRUSTED_PROXIES", "127.0.0.1")]);
    let token = add_user_with_password(&server, "grace", &[]);
    let from = |client: &'static str| [("X-Forwarded-For", client)];
    // A token's last use is noted with the forwarded address too.
    let used = get(
        &server.url("/packages.json"),
        &[
            ("Authorization", &basic("grace", &token)),
            ("X-Forwarded-For", "192.0.2.44"),
        ],
    );
    assert_eq!(used.status, 200, "{}", used.text());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !server
        .cli_ok(&["token", "list", "grace"])
        .contains("192.0.2.44")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the use was not noted with the client's address"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // 20 failures from one client, spread over names so no user reaches its own limit.
    for attempt in 0..20 {
        let name = format!("nobody{}", attempt % 5);
        let reply = try_login(&server, &name, "wrong password", &from("203.0.113.7"));
        assert_eq!(reply.status, 401, "{}", reply.text());
    }
    let blocked = try_login(&server, "grace", PASSWORD, &from("203.0.113.7"));
    assert_eq!(blocked.status, 429, "{}", blocked.text());
    assert!(
        blocked.text().contains("for your address"),
        "{}",
        blocked.text()
    );
    // Another client behind the same proxy logs in.
    let other = try_login(
        &server,
        "grace",
        PASSWORD,
        &from("198.51.100.4, 203.0.113.9"),
    );
    assert_eq!(other.status, 303, "{}", other.text());
}

#[test]
fn trusting_every_address_as_a_proxy_is_warned_about() {
    let server = Server::start_with(&[("PACKYARD_TRUSTED_PROXIES", "10.0.0.0/8, 0.0.0.0/0")]);
    // Written before the server listens; the log is copied from its stderr as it comes.
    server.wait_for_log(
        "PACKYARD_TRUSTED_PROXIES trusts every address",
        1,
        Duration::from_secs(5),
    );
    assert!(server.log().contains("0.0.0.0/0"), "{}", server.log());
}

/// Logs `user` in (its password is [`PASSWORD`]); the `name=value` of its session cookie.
pub(crate) fn signed_in(server: &Server, user: &str) -> String {
    let login = try_login(server, user, PASSWORD, &[]);
    assert_eq!(login.status, 303, "{}", login.text());
    let cookie = session_cookie(&login).expect("a session cookie");
    cookie.split(';').next().unwrap().to_owned()
}

/// Posts `fields` as a form to `path` with the session `cookie` and `extra` headers.
fn post_form(
    server: &Server,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> Reply {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut headers = vec![
        ("Cookie", cookie),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    headers.extend_from_slice(extra);
    post(&server.url(path), &headers, body.as_bytes())
}

/// Sends only the header of a form post to `path` with `cookie`, declaring a
/// 2,000,000-byte body that never comes; the status line of the answer.
fn declared_only(server: &Server, path: &str, cookie: &str) -> String {
    let mut stream = std::net::TcpStream::connect(server.host()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 2000000\r\n\r\n",
        server.host()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = [0u8; 64];
    let read = stream.read(&mut answer).unwrap_or(0);
    String::from_utf8_lossy(&answer[..read])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The names of `user`'s tokens, as the CLI lists them.
pub(crate) fn token_list(server: &Server, user: &str) -> String {
    cli(server, &["token", "list", user])
}

/// Posts `size` bytes to `path` in 64 KiB chunks without declaring a length, as
/// `cookie`'s browser, and returns the start of the answer (the server may stop reading
/// before the last chunk).
fn chunked_post(
    server: &Server,
    path: &str,
    cookie: &str,
    content_type: &str,
    size: usize,
) -> String {
    let mut stream = std::net::TcpStream::connect(server.host()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\n\
         Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n",
        server.host()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let piece = 16 * 1024;
    let chunk = format!("{piece:x}\r\n{}\r\n", "b".repeat(piece));
    for _ in 0..size.div_ceil(piece) {
        if stream.write_all(chunk.as_bytes()).is_err() {
            break;
        }
    }
    let mut answer = [0u8; 64];
    let read = stream.read(&mut answer).unwrap();
    String::from_utf8_lossy(&answer[..read]).into_owned()
}

#[test]
fn signed_in_forms_are_bounded_and_refused_from_other_sites() {
    // A small upload limit, so that a chunked upload can be sent past it quickly.
    let server = Server::start_with(&[("PACKYARD_MAX_UPLOAD", "1M")]);
    add_user_with_password(&server, "root", &["--admin"]);
    let cookie = signed_in(&server, "root");
    let csrf = csrf_of(&get(&server.url("/profile"), &[("Cookie", &cookie)]));

    // Declared lengths are judged before a byte of the body comes: over 64 KiB is a 413
    // for a signed-in user, and a user without the form's role gets its 403 at once.
    add_user_with_password(&server, "carol", &[]);
    let carol = signed_in(&server, "carol");
    for (path, cookie, status) in [
        ("/profile/tokens", cookie.as_str(), " 413 "),
        ("/admin/users", cookie.as_str(), " 413 "),
        ("/admin/users", carol.as_str(), " 403 "),
        ("/packages/acme/lib/update", carol.as_str(), " 403 "),
    ] {
        let started = std::time::Instant::now();
        let answer = declared_only(&server, path, cookie);
        assert!(answer.contains(status), "{path}: {answer:?}");
        assert!(started.elapsed() < Duration::from_secs(3), "{path}");
    }

    // A form over 64 KiB: 413, from its declared length, and nothing is done.
    let padding = "a".repeat(65 * 1024);
    let fields = [
        ("csrf", csrf.as_str()),
        ("name", "oversized"),
        ("pad", padding.as_str()),
    ];
    let large = post_form(&server, "/profile/tokens", &cookie, &fields, &[]);
    assert_eq!(large.status, 413, "{}", large.text());
    assert!(
        large.text().contains("larger than 64 KiB"),
        "{}",
        large.text()
    );
    // The same without a declared length (chunked): cut once it passes 64 KiB.
    let answer = chunked_post(
        &server,
        "/profile/tokens",
        &cookie,
        "application/x-www-form-urlencoded",
        5 * 16 * 1024,
    );
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer:?}");
    assert!(!token_list(&server, "root").contains("oversized"));

    // Another site's page posting the form, with the browser's cookie and the token
    // (say, read from a page it framed before): refused, nothing done.
    let fields = [("csrf", csrf.as_str()), ("name", "forged")];
    for foreign in [
        ("Origin", "https://attacker.example"),
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Site", "same-site"),
    ] {
        let forged = post_form(&server, "/profile/tokens", &cookie, &fields, &[foreign]);
        assert_eq!(forged.status, 403, "{foreign:?}: {}", forged.text());
        assert!(forged.text().contains("another site"), "{}", forged.text());
    }
    assert!(!token_list(&server, "root").contains("forged"));
    // Our own page posting it: the token is made.
    let own = [
        ("Origin", server.base.as_str()),
        ("Sec-Fetch-Site", "same-origin"),
    ];
    let made = post_form(&server, "/profile/tokens", &cookie, &fields, &own);
    assert_eq!(made.status, 201, "{}", made.text());
    assert!(token_list(&server, "root").contains("forged"));

    // The upload form's fields other than the file are bounded too.
    let boundary = "xBOUNDARYx";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"version\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(padding.as_bytes());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let upload = post(
        &server.url("/admin/packages/upload"),
        &[
            ("Cookie", &cookie),
            (
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            ),
        ],
        &body,
    );
    assert_eq!(upload.status, 413, "{}", upload.text());

    // An upload sent without a length (chunked) and without a boundary, which the
    // multipart parser would hold in memory until one came: cut once it passes
    // PACKYARD_MAX_UPLOAD and the fields' 64 KiB, and answered.
    let answer = chunked_post(
        &server,
        "/admin/packages/upload",
        &cookie,
        &format!("multipart/form-data; boundary={boundary}"),
        3 << 20,
    );
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer:?}");
}

#[test]
fn admins_cannot_demote_reset_or_remove_other_admins_over_http() {
    let server = Server::start();
    let root_token = add_user_with_password(&server, "root", &["--admin"]);
    add_user_with_password(&server, "second", &["--admin"]);
    add_user_with_password(&server, "plain", &[]);
    let cookie = signed_in(&server, "root");
    let page = get(&server.url("/admin/users/second"), &[("Cookie", &cookie)]);
    assert_eq!(page.status, 200, "{}", page.text());
    // The page offers no form for another admin, and says why.
    assert!(
        !page.text().contains("action=\"/admin/users/second"),
        "{}",
        page.text()
    );
    assert!(
        page.text().contains("second is an admin"),
        "{}",
        page.text()
    );
    let csrf = csrf_of(&page);

    // The web UI: demoting, resetting the password of and removing another admin are
    // refused, and so is demoting yourself.
    let attacks: [(&str, Vec<(&str, &str)>); 4] = [
        ("/admin/users/second", vec![("role", "user")]),
        (
            "/admin/users/second",
            vec![("role", "admin"), ("password", "taken over at last")],
        ),
        ("/admin/users/second/remove", vec![]),
        ("/admin/users/root", vec![("role", "user")]),
    ];
    for (path, extra) in &attacks {
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(extra);
        let refused = post_form(&server, path, &cookie, &fields, &[]);
        assert_eq!(refused.status, 403, "{path} {extra:?}: {}", refused.text());
        assert!(
            refused.text().contains("packyard CLI"),
            "{}",
            refused.text()
        );
    }
    // The other admin is unchanged: still an admin, its password still the same.
    assert_eq!(role_of(&server, "second"), "admin");
    assert_eq!(role_of(&server, "root"), "admin");
    signed_in(&server, "second");

    // Users who are not admins are still managed from the web UI.
    let promoted = post_form(
        &server,
        "/admin/users/plain",
        &cookie,
        &[("csrf", &csrf), ("role", "maintainer")],
        &[],
    );
    assert_eq!(promoted.status, 303, "{}", promoted.text());
    assert_eq!(role_of(&server, "plain"), "maintainer");
    // But nobody is made an admin over HTTP: an admin minted with a stolen session
    // could not be removed by the others.
    for (path, fields) in [
        (
            "/admin/users/plain",
            vec![("csrf", csrf.as_str()), ("role", "admin")],
        ),
        (
            "/admin/users",
            vec![
                ("csrf", csrf.as_str()),
                ("name", "minted"),
                ("role", "admin"),
            ],
        ),
    ] {
        let minted = post_form(&server, path, &cookie, &fields, &[]);
        assert_eq!(minted.status, 403, "{path}: {}", minted.text());
        assert!(minted.text().contains("packyard CLI"), "{}", minted.text());
    }
    assert_eq!(role_of(&server, "plain"), "maintainer");
    assert!(!cli(&server, &["user", "list"]).contains("minted"));

    // The API refuses the same, with the same rule.
    let auth = basic("root", &root_token);
    let users = get(&server.url("/api/users"), &[("Authorization", &auth)]).json();
    let id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "second")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let demote = put(
        &server.url(&format!("/api/user/{id}")),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        br#"{"isAdmin": false}"#,
    );
    assert_eq!(demote.status, 403, "{}", demote.text());
    assert!(
        demote.text().contains("second is an admin"),
        "{}",
        demote.text()
    );
    let plain_id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "plain")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let json_as_root = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let promote = put(
        &server.url(&format!("/api/user/{plain_id}")),
        &json_as_root,
        br#"{"isAdmin": true}"#,
    );
    assert_eq!(promote.status, 403, "{}", promote.text());
    let create = post(
        &server.url("/api/users"),
        &json_as_root,
        br#"{"username": "minted", "isAdmin": true}"#,
    );
    assert_eq!(create.status, 403, "{}", create.text());
    assert_eq!(role_of(&server, "plain"), "maintainer");
    assert!(!cli(&server, &["user", "list"]).contains("minted"));
    // The operator's CLI may.
    cli(&server, &["user", "set", "second", "--plain"]);
    assert_eq!(role_of(&server, "second"), "user");
}

/// `user`'s role as `packyard user list` shows it (`admin`, `maintainer`, `user`).
fn role_of(server: &Server, user: &str) -> String {
    let listed = cli(server, &["user", "list"]);
    listed
        .lines()
        .find_map(|line| {
            let (role, rest) = line.split_once(' ')?;
            rest.starts_with(&format!("{user}\t"))
                .then(|| role.to_owned())
        })
        .unwrap_or_else(|| panic!("{user} is not listed: {listed}"))
}

/// Objects written to the stores so far (`packyard_storage_requests_total` of `put`).
fn storage_writes(server: &Server, auth: &str) -> u64 {
    let metrics = get(&server.url("/metrics"), &[("Authorization", auth)]);
    assert_eq!(metrics.status, 200, "{}", metrics.text());
    metrics
        .text()
        .lines()
        .filter(|line| {
            line.starts_with("packyard_storage_requests_total{") && line.contains("\"put\"")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn the_storage_page_probes_the_stores_only_when_its_form_is_posted() {
    let server = Server::start();
    let token = add_user_with_password(&server, "root", &["--admin"]);
    let auth = basic("root", &token);
    let cookie = signed_in(&server, "root");
    let before = storage_writes(&server, &auth);

    // What an `<img src=/admin/storage>` in a README makes an admin's browser do.
    let page = get(&server.url("/admin/storage"), &[("Cookie", &cookie)]);
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("not checked"), "{}", page.text());
    assert_eq!(storage_writes(&server, &auth), before, "a GET probed");

    let forged = post_form(&server, "/admin/storage", &cookie, &[("csrf", "")], &[]);
    assert_eq!(forged.status, 403, "{}", forged.text());
    assert_eq!(
        storage_writes(&server, &auth),
        before,
        "a forged form probed"
    );

    let csrf = csrf_of(&page);
    let checked = post_form(&server, "/admin/storage", &cookie, &[("csrf", &csrf)], &[]);
    assert_eq!(checked.status, 200, "{}", checked.text());
    assert!(checked.text().contains("just probed"), "{}", checked.text());
    assert!(storage_writes(&server, &auth) >= before + 4);
}

#[test]
fn a_guesser_cannot_lock_a_user_out_and_ipv6_clients_count_by_their_64() {
    let server = Server::start_with(&[("PACKYARD_TRUSTED_PROXIES", "127.0.0.1")]);
    add_user_with_password(&server, "alice", &[]);
    let from = |client: &'static str| [("X-Forwarded-For", client)];
    let guesser = "203.0.113.7";

    // Five wrong passwords for alice from one address: that address is refused for
    // alice, even with the right password.
    for _ in 0..5 {
        let reply = try_login(&server, "alice", "wrong password", &from(guesser));
        assert_eq!(reply.status, 401, "{}", reply.text());
    }
    let refused = try_login(&server, "alice", PASSWORD, &from(guesser));
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert!(
        refused
            .text()
            .contains("Too many failed logins for this user from your address"),
        "{}",
        refused.text()
    );
    // Alice, from her own address, logs in: slowed down, not locked out.
    let started = std::time::Instant::now();
    let alice = try_login(&server, "alice", PASSWORD, &from("198.51.100.4"));
    assert_eq!(alice.status, 303, "{}", alice.text());
    assert!(session_cookie(&alice).is_some());
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "not slowed down: {:?}",
        started.elapsed()
    );
    // The guesser is still refused; a new address gets one guess, then is refused too.
    let again = try_login(&server, "alice", PASSWORD, &from(guesser));
    assert_eq!(again.status, 429, "{}", again.text());
    let other = "192.0.2.99";
    let guess = try_login(&server, "alice", "another guess", &from(other));
    assert_eq!(guess.status, 401, "{}", guess.text());
    let after = try_login(&server, "alice", PASSWORD, &from(other));
    assert_eq!(after.status, 429, "{}", after.text());

    // IPv6: the addresses of one /64 share one address budget (20 failures, spread over
    // names so that no user reaches its own limit).
    add_user_with_password(&server, "bob", &[]);
    for attempt in 1..=20 {
        let client = format!("2001:db8:7:7::{attempt:x}");
        let name = format!("nobody{}", attempt % 5);
        let reply = try_login(
            &server,
            &name,
            "wrong password",
            &[("X-Forwarded-For", &client)],
        );
        assert_eq!(reply.status, 401, "{client}: {}", reply.text());
    }
    let same_64 = try_login(&server, "bob", PASSWORD, &from("2001:db8:7:7:abcd::1"));
    assert_eq!(same_64.status, 429, "{}", same_64.text());
    assert!(
        same_64.text().contains("for your address"),
        "{}",
        same_64.text()
    );
    let next_64 = try_login(&server, "bob", PASSWORD, &from("2001:db8:7:8::1"));
    assert_eq!(next_64.status, 303, "{}", next_64.text());
}

#[test]
fn readme_html_renders_within_its_allow_list_and_images_load_from_https_only() {
    testkit::needs!(Chromium);
    let server = Server::start();
    let token = add_user_with_password(&server, "root", &["--admin"]);
    let readme = "<p align=\"center\"><img src=\"https://img.example/logo.png\" alt=\"Logo\" width=\"80\"></p>\n\n\
                  # Badges\n\n[![Build](https://ci.example/badge.svg)](https://ci.example) \
                  ![Plain](http://plain.example/p.gif) ![Near](//near.example/p.gif) \
                  [Docs](docs/usage.md)\n\n\
                  <details><summary>Install notes</summary>\n\nRun `make` <b onmouseover=\"alert('b')\">first</b>.\n\n</details>\n\n\
                  <table><tr><th align=\"right\">Key</th><td>Value</td></tr></table>\n\n\
                  <img src=\"https://img.example/x.png\" onerror=\"alert('img')\">\
                  <a href=\"jav&#x09;ascript:alert('a')\">trap</a>\n";
    let fields = serde_json::json!({"description": "Renders HTML", "license": "MIT"});
    let reply = upload(
        &server,
        &token,
        "acme/html",
        "1.0.0",
        &archive("acme/html", &fields, Some(readme)),
    );
    assert!(reply.status < 300, "{}", reply.text());
    let cookie = signed_in(&server, "root");
    let page = get(&server.url("/packages/acme/html"), &[("Cookie", &cookie)]);
    assert_eq!(page.status, 200, "{}", page.text());
    let policy = page.header("content-security-policy").unwrap();
    assert!(policy.contains("img-src 'self' data: https:;"), "{policy}");
    let html = page.text();
    let start = html.find("<article class=\"readme\">").unwrap();
    let readme_html = &html[start..start + html[start..].find("</article>").unwrap()];
    // Over http (mixed content), scheme-relative or relative to this site (the
    // repository's host is not known): no image, no link. No script, in any form.
    for refused in [
        "plain.example",
        "near.example",
        "docs/usage.md",
        "alert(",
        "<script",
    ] {
        assert!(!readme_html.contains(refused), "{refused} in {readme_html}");
    }

    let browser = Browser::start();
    log_in(&browser, &server, "root");
    browser.goto(&server.url("/packages/acme/html"));
    assert_eq!(browser.alert_text(), None, "a script ran");
    // The author's HTML renders as HTML: centred logo, a badge inside a link, a
    // details block, an HTML table.
    let readme = browser.find(".readme");
    assert_eq!(
        browser
            .find(".readme p[align=center] img")
            .attribute("src")
            .as_deref(),
        Some("https://img.example/logo.png")
    );
    assert_eq!(
        browser
            .find(".readme a[href='https://ci.example'] img")
            .attribute("alt")
            .as_deref(),
        Some("Build")
    );
    let images = browser.execute(
        "return [...document.querySelectorAll('.readme img')].map(i => [i.getAttribute('src'), i.getAttribute('referrerpolicy'), i.getAttribute('onerror')]);",
        &[],
    );
    for image in images.as_array().unwrap() {
        let [src, referrer, handler] = [0, 1, 2].map(|i| image[i].as_str());
        assert!(
            src.is_none_or(|src| src.starts_with("https://")),
            "{images}"
        );
        assert_eq!(referrer, Some("no-referrer"), "{images}");
        assert_eq!(handler, None, "{images}");
    }
    browser.find(".readme details summary").click();
    assert!(
        readme.text().contains("Run make first."),
        "{}",
        readme.text()
    );
    assert_eq!(browser.find(".readme table th").text(), "Key");
    assert!(browser.try_find(".readme [onmouseover]").is_none());
    let trap = browser
        .find(".readme a:not([href^='https'])")
        .attribute("href");
    assert_eq!(trap, None, "the javascript: link keeps no href");
    browser.screenshot(screenshots().join("web-package-readme-html.png"));
    assert_eq!(browser.alert_text(), None, "a script ran");

    // A README with a script (a tag a README never needs, read by other rules) has
    // all its HTML shown as text.
    let scripted = "<p align=\"center\">Hi</p>\n\n<script>alert('script')</script>\n";
    let reply = upload(
        &server,
        &token,
        "acme/scripted",
        "1.0.0",
        &archive("acme/scripted", &fields, Some(scripted)),
    );
    assert!(reply.status < 300, "{}", reply.text());
    browser.goto(&server.url("/packages/acme/scripted"));
    assert_eq!(browser.alert_text(), None, "a script ran");
    let text = browser.find(".readme").text();
    assert!(text.contains("<script>alert('script')</script>"), "{text}");
    assert!(browser.try_find(".readme p[align]").is_none());
}

#[test]
fn a_package_page_has_one_h1_and_the_readme_headings_below_it() {
    let server = Server::start();
    let token = add_user_with_password(&server, "root", &["--admin"]);
    let readme = "# Title\n\nIntro.\n\n## Usage\n\n###### Deepest\n\nSetext\n======\n";
    let fields = serde_json::json!({"description": "Has a README"});
    let reply = upload(
        &server,
        &token,
        "acme/titled",
        "1.0.0",
        &archive("acme/titled", &fields, Some(readme)),
    );
    assert!(reply.status < 300, "{}", reply.text());
    let cookie = signed_in(&server, "root");
    let page = get(&server.url("/packages/acme/titled"), &[("Cookie", &cookie)]);
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    assert_eq!(html.matches("<h1").count(), 1, "{html}");
    assert!(html.contains("<h1>acme/titled</h1>"), "{html}");
    for heading in [
        "<h2>Title</h2>",
        "<h3>Usage</h3>",
        "<h6>Deepest</h6>",
        "<h2>Setext</h2>",
    ] {
        assert!(html.contains(heading), "{heading} in {html}");
    }
}

/// The hash in `url` when it is `/assets/{stem}.{16 hex digits}.{extension}`.
fn hashed_asset<'a>(url: &'a str, stem: &str, extension: &str) -> Option<&'a str> {
    let hash = url
        .strip_prefix("/assets/")?
        .strip_prefix(stem)?
        .strip_prefix('.')?
        .strip_suffix(extension)?
        .strip_suffix('.')?;
    (hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hash)
}

/// The value of the first `attribute="…"` in `html` that starts with `prefix`.
fn attribute_starting<'a>(html: &'a str, attribute: &str, prefix: &str) -> &'a str {
    let start = format!("{attribute}=\"{prefix}");
    let at = html
        .find(&start)
        .unwrap_or_else(|| panic!("no {start} in {html}"));
    let value = &html[at + attribute.len() + 2..];
    &value[..value.find('"').unwrap()]
}

#[test]
fn assets_are_served_under_hashed_names_that_are_cached_for_good() {
    let server = Server::start();
    let page = get(&server.url("/login"), &[]);
    assert_eq!(page.status, 200, "{}", page.text());
    let policy = page.header("content-security-policy").unwrap();
    assert!(
        policy.contains("style-src 'self';") && policy.contains("script-src 'self';"),
        "{policy}"
    );
    let html = page.text();
    for (url, stem, extension, content_type, bytes) in [
        (
            attribute_starting(&html, "href", "/assets/"),
            "style",
            "css",
            "text/css; charset=utf-8",
            include_str!("../../assets/style.css"),
        ),
        (
            attribute_starting(&html, "src", "/assets/"),
            "app",
            "js",
            "text/javascript; charset=utf-8",
            include_str!("../../assets/app.js"),
        ),
    ] {
        let hash = hashed_asset(url, stem, extension)
            .unwrap_or_else(|| panic!("{url} is not a hashed name of {stem}.{extension}"));
        let current = get(&server.url(url), &[]);
        assert_eq!(current.status, 200, "{url}");
        assert_eq!(
            current.header("cache-control").as_deref(),
            Some("public, max-age=31536000, immutable"),
            "{url}"
        );
        assert_eq!(
            current.header("content-type").as_deref(),
            Some(content_type)
        );
        assert_eq!(current.text(), bytes, "{url}");
        // Under another hash or its plain name: the same bytes, kept by nobody.
        let other = if hash.starts_with('0') { "1" } else { "0" }.repeat(16);
        for stale in [
            format!("/assets/{stem}.{other}.{extension}"),
            format!("/assets/{stem}.{extension}"),
        ] {
            let reply = get(&server.url(&stale), &[]);
            assert_eq!(reply.status, 200, "{stale}");
            assert_eq!(
                reply.header("cache-control").as_deref(),
                Some("no-store"),
                "{stale}"
            );
            assert_eq!(reply.text(), bytes, "{stale}");
        }
    }
    for unknown in [
        "/assets/nope.css",
        "/assets/style.js",
        "/assets/style.not-hex.css",
        "/assets/app.0123456789abcdef.css",
    ] {
        let reply = get(&server.url(unknown), &[]);
        assert_eq!(reply.status, 404, "{unknown}");
        assert!(reply.text().contains("Not found"), "{unknown}");
    }
}

/// Runs `statement` on the server's SQLite database and returns the first column of the
/// first row it gives (tests move stored times back, as hours passing would).
fn sql(server: &Server, statement: &str) -> Option<i64> {
    let database = format!(
        "sqlite://{}",
        server.data.path().join("packyard.db").display()
    );
    with_database_drivers(async {
        let pool = sqlx::AnyPool::connect(&database).await.unwrap();
        let value = sqlx::query_scalar(sqlx::AssertSqlSafe(statement.to_owned()))
            .fetch_optional(&pool)
            .await
            .unwrap();
        pool.close().await;
        value
    })
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[test]
fn sessions_end_when_idle_and_behind_https_use_host_only_cookies() {
    let server = Server::start_with(&[("PACKYARD_PUBLIC_URL", "https://repo.example")]);
    add_user_with_password(&server, "root", &["--admin"]);
    let profile = |cookie: &str| get(&server.url("/profile"), &[("Cookie", cookie)]).status;

    // Behind https both cookies are __Host- ones, set without a Domain.
    let (_, csrf_cookie) = login_form(&server, &[]);
    assert!(
        csrf_cookie.starts_with("__Host-packyard_login_csrf="),
        "{csrf_cookie}"
    );
    let login = try_login(&server, "root", PASSWORD, &[]);
    let set = session_cookie(&login).expect("a session cookie");
    assert!(set.starts_with("__Host-packyard_session="), "{set}");
    assert!(set.contains("Secure") && set.contains("Path=/") && !set.contains("Domain"));
    let cookie = set.split(';').next().unwrap().to_owned();
    assert_eq!(profile(&cookie), 200);

    // A sibling subdomain can set unprefixed cookies for the parent domain: a login
    // CSRF cookie it planted does not count, nor does a session cookie without the
    // prefix.
    let planted = form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", "planted")
        .append_pair("username", "root")
        .append_pair("password", PASSWORD)
        .finish();
    let refused = post(
        &server.url("/login"),
        &[
            ("Cookie", "packyard_login_csrf=planted"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        planted.as_bytes(),
    );
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(session_cookie(&refused).is_none());
    let unprefixed = cookie.trim_start_matches("__Host-");
    assert_eq!(profile(unprefixed), 303);

    // A session used within a few minutes is not written again; one used later has its
    // end moved to 12 hours from now.
    let end = || sql(&server, "SELECT expires_at FROM web_sessions").unwrap();
    let first_end = end();
    assert!(
        (first_end - (now_ms() + 12 * 3_600_000)).abs() < 60_000,
        "{first_end}"
    );
    assert_eq!(profile(&cookie), 200);
    assert_eq!(end(), first_end, "written on every use");
    // As if the session had last been used 11 hours ago.
    sql(
        &server,
        &format!(
            "UPDATE web_sessions SET expires_at = {}",
            now_ms() + 3_600_000
        ),
    );
    assert_eq!(profile(&cookie), 200);
    assert!(
        (end() - (now_ms() + 12 * 3_600_000)).abs() < 60_000,
        "not renewed"
    );
    // As if it had last been used 12 hours ago: it has ended.
    sql(
        &server,
        &format!("UPDATE web_sessions SET expires_at = {}", now_ms() - 1000),
    );
    assert_eq!(profile(&cookie), 303);

    // However it is used, a session ends 7 days after the login: one logged in 7 days
    // less 2 hours ago and last used 11 hours ago is renewed for 2 hours only.
    let login = try_login(&server, "root", PASSWORD, &[]);
    let cookie = session_cookie(&login).unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let (week, hour) = (7 * 86_400_000, 3_600_000);
    let created = now_ms() - week + 2 * hour;
    sql(
        &server,
        &format!(
            "UPDATE web_sessions SET created_at = {created}, expires_at = {}",
            now_ms() + hour
        ),
    );
    assert_eq!(profile(&cookie), 200);
    assert_eq!(end(), created + week, "renewed past 7 days");
}

/// A user's groups are part of its account: the group page's member form follows the
/// rule the user form and the API follow (an admin adds neither itself nor another
/// admin to a group, nor removes them), where the CLI may.
#[test]
fn the_group_pages_member_form_follows_the_account_rule() {
    let server = Server::start();
    add_user_with_password(&server, "root", &["--admin"]);
    add_user_with_password(&server, "second", &["--admin"]);
    let plain = add_user_with_password(&server, "plain", &[]);
    cli(&server, &["group", "add", "licensed"]);
    cli(&server, &["group", "grant", "licensed", "acme/lib"]);
    cli(
        &server,
        &["group", "members", "licensed", "--add", "second"],
    );
    let archive = package_zip("acme/lib", &[], "1.0.0");
    let admin = server.add_user("admin", true);
    assert_eq!(
        upload(&server, &admin, "acme/lib", "1.0.0", &archive).status,
        201
    );
    let cookie = signed_in(&server, "root");
    let page = get(
        &server.url("/admin/groups/licensed"),
        &[("Cookie", &cookie)],
    );
    assert_eq!(page.status, 200, "{}", page.text());
    let csrf = csrf_of(&page);
    for (user, action) in [("second", "remove"), ("root", "add"), ("second", "add")] {
        let fields = [("csrf", csrf.as_str()), ("user", user), ("action", action)];
        let refused = post_form(
            &server,
            "/admin/groups/licensed/members",
            &cookie,
            &fields,
            &[],
        );
        assert_eq!(refused.status, 403, "{action} {user}: {}", refused.text());
        assert!(
            refused.text().contains("packyard CLI"),
            "{}",
            refused.text()
        );
    }
    let fields = [
        ("csrf", csrf.as_str()),
        ("user", "plain"),
        ("action", "add"),
    ];
    let added = post_form(
        &server,
        "/admin/groups/licensed/members",
        &cookie,
        &fields,
        &[],
    );
    assert_eq!(added.status, 303, "{}", added.text());
    // Plain sees what the group grants.
    assert_eq!(p2(&server, "plain", &plain, "acme/lib").status, 200);
    let listed = cli(&server, &["group", "list"]);
    assert!(
        listed.contains("members: plain,second"),
        "only plain was added: {listed}"
    );
    // A name that is nobody's is said on the group's page.
    let fields = [
        ("csrf", csrf.as_str()),
        ("user", "nobody"),
        ("action", "add"),
    ];
    let unknown = post_form(
        &server,
        "/admin/groups/licensed/members",
        &cookie,
        &fields,
        &[],
    );
    assert_eq!(unknown.status, 400, "{}", unknown.text());
    assert!(unknown.text().contains("nobody"), "{}", unknown.text());
}

/// The names in the package list, read in one script.
fn listed_packages(browser: &Browser) -> Vec<String> {
    texts(&browser.find_all(".packages .name"))
}

/// Sub-repositories in the browser: an admin makes one on its page (a slug that is not
/// free is said beside the form), limits a user and a group to some from their pages;
/// the user lands on its first sub-repository's packages, switches between those it
/// may use with the selector, gets the 404 page for any other, and finds the Composer
/// set-up of each on its profile.
#[test]
fn admins_manage_sub_repositories_and_users_browse_those_they_may_use() {
    testkit::needs!(Chromium);
    let server = Server::start();
    let admin = add_user_with_password(&server, "admin", &["--admin"]);
    add_user_with_password(&server, "dave", &["--full-access"]);
    for name in ["acme/lib", "acme/tool", "other/util"] {
        let reply = upload(
            &server,
            &admin,
            name,
            "1.0.0",
            &package_zip(name, &[], "1.0.0"),
        );
        assert_eq!(reply.status, 201, "{}", reply.text());
    }
    cli(
        &server,
        &[
            "subrepo",
            "add",
            "client-b",
            "--name",
            "Client B",
            "--packages",
            "other/util",
        ],
    );
    cli(&server, &["group", "add", "partners"]);

    let browser = Browser::start();
    log_in(&browser, &server, "admin");
    browser.goto(&server.url("/admin/packages"));
    browser.find("nav.admin a[href='/admin/subrepos']").click();
    browser.wait_for("#subrepo-slug", Duration::from_secs(10));
    // A slug packyard serves itself is refused beside the form, what was typed kept.
    browser.find("#subrepo-slug").send_keys("admin");
    browser.find("#subrepo-name").send_keys("Client A");
    browser
        .find("#subrepo-packages")
        .send_keys("acme/*\nother/none, acme/lib");
    submit(&browser, "form[action='/admin/subrepos'] button");
    let refused = browser.find("p.message.error").text();
    assert!(refused.contains("\"admin\""), "{refused}");
    assert_eq!(browser.find("#subrepo-name").property("value"), "Client A");
    check_accessibility(&browser, "admin-subrepos-refused");
    let slug = browser.find("#subrepo-slug");
    slug.clear();
    slug.send_keys("client-a");
    submit(&browser, "form[action='/admin/subrepos'] button");
    assert!(
        browser.current_url().ends_with("/admin/subrepos/client-a"),
        "{}",
        browser.current_url()
    );
    assert_eq!(
        browser.find("#subrepo-packages").property("value"),
        "acme/*\nacme/lib\nother/none"
    );
    check_accessibility(&browser, "admin-subrepo");
    browser.goto(&server.url("/admin/subrepos"));
    let rows = texts(&browser.find_all("table.subrepos tbody tr"));
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows[0].starts_with("client-a")
            && rows[0].contains("Client A")
            && rows[0].contains("acme/*, acme/lib, other/none")
            && rows[0].contains("private"),
        "{rows:?}"
    );
    assert!(rows[1].starts_with("client-b"), "{rows:?}");
    check_accessibility(&browser, "admin-subrepos");
    // Changed from its page: a package less, made public, then back.
    browser.goto(&server.url("/admin/subrepos/client-a"));
    let packages = browser.find("#subrepo-packages");
    packages.clear();
    packages.send_keys("acme/*");
    submit(&browser, "form[action='/admin/subrepos/client-a'] button");
    assert_eq!(
        browser.find("#subrepo-packages").property("value"),
        "acme/*"
    );
    // A host name that is not one is said beside the form; nothing changes.
    browser.find("#subrepo-hosts").send_keys("Not A Host!");
    submit(&browser, "form[action='/admin/subrepos/client-a'] button");
    let refused = browser.find("p.message.error").text();
    assert!(refused.contains("host name"), "{refused}");
    browser.goto(&server.url("/admin/subrepos/client-a"));
    assert_eq!(browser.find("#subrepo-hosts").property("value"), "");
    // A slug the page's pattern would stop, posted anyway: refused with a 400.
    let cookie = signed_in(&server, "admin");
    let csrf = csrf_of(&get(&server.url("/admin/subrepos"), &[("Cookie", &cookie)]));
    let fields = [
        ("csrf", csrf.as_str()),
        ("slug", "Bad_Slug"),
        ("name", "Bad"),
    ];
    let refused = post_form(&server, "/admin/subrepos", &cookie, &fields, &[]);
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(
        refused.text().contains("invalid slug"),
        "{}",
        refused.text()
    );

    // Dave may use both sub-repositories, not the root.
    browser.goto(&server.url("/admin/users/dave"));
    browser
        .find("input[name=subrepos_limit][value=some]")
        .click();
    for slug in ["client-a", "client-b"] {
        browser
            .find(&format!("input[name=subrepo][value={slug}]"))
            .click();
    }
    submit(&browser, "form[action='/admin/users/dave'] button");
    browser.wait_for(
        "input[name=subrepo][value=client-b]:checked",
        Duration::from_secs(10),
    );
    assert!(
        browser
            .try_find("input[name=subrepo][value=root]:checked")
            .is_none()
    );
    check_accessibility(&browser, "admin-user-subrepos");
    browser.goto(&server.url("/admin/users"));
    let dave = texts(&browser.find_all("table.tokens tbody tr"))
        .into_iter()
        .find(|row| row.starts_with("dave"))
        .unwrap();
    assert!(dave.ends_with("client-a, client-b password"), "{dave}");
    // A group's grants counted only at the root, from its page.
    browser.goto(&server.url("/admin/groups/partners"));
    browser
        .find("input[name=subrepos_limit][value=some]")
        .click();
    browser.find("input[name=subrepo][value=root]").click();
    submit(&browser, "form[action$='/settings'] button");
    browser.wait_for(
        "input[name=subrepo][value=root]:checked",
        Duration::from_secs(10),
    );
    browser.goto(&server.url("/admin/groups"));
    let partners = browser.find("table.tokens tbody tr").text();
    assert!(partners.ends_with("root"), "{partners}");
    submit(&browser, "header form[action='/logout'] button");
    browser.wait_for("#username", Duration::from_secs(10));

    // Dave lands on its first sub-repository, not on an empty root.
    log_in(&browser, &server, "dave");
    browser.goto(&server.url("/"));
    assert_eq!(listed_packages(&browser), ["acme/lib", "acme/tool"]);
    assert_eq!(
        texts(&browser.find_all("#subrepo option")),
        ["Client A", "Client B"]
    );
    check_accessibility(&browser, "index-subrepos");
    // The selector is a plain form: pick, then show.
    browser.find("#subrepo option[value=client-b]").click();
    submit(&browser, "form.selector button");
    assert!(
        browser.current_url().ends_with("/?subrepo=client-b"),
        "{}",
        browser.current_url()
    );
    assert_eq!(listed_packages(&browser), ["other/util"]);
    assert_eq!(browser.find("#subrepo option:checked").text(), "Client B");
    browser.screenshot(screenshots().join("web-index-subrepo-b.png"));
    // Links, filters and searches stay in the sub-repository.
    submit(&browser, ".packages a.name");
    assert!(
        browser
            .current_url()
            .ends_with("/packages/other/util?subrepo=client-b"),
        "{}",
        browser.current_url()
    );
    submit(&browser, ".crumbs a");
    assert_eq!(listed_packages(&browser), ["other/util"]);
    browser.find("#q").send_keys("util");
    submit(&browser, "form.filters button");
    assert_eq!(listed_packages(&browser), ["other/util"]);
    assert!(
        browser.current_url().contains("subrepo=client-b"),
        "{}",
        browser.current_url()
    );
    // Anything else is the 404 page: an unknown slug, the root it may not use.
    for path in [
        "/?subrepo=nope",
        "/?subrepo=root",
        "/packages/acme/?subrepo=client-b",
    ] {
        browser.goto(&server.url(path));
        assert!(
            browser.title().starts_with("Not found"),
            "{path}: {}",
            browser.title()
        );
    }
    let cookie = signed_in(&server, "dave");
    assert_eq!(
        get(&server.url("/?subrepo=nope"), &[("Cookie", &cookie)]).status,
        404
    );

    // The profile sets up each repository it may use, and not the root.
    browser.goto(&server.url("/profile"));
    let setups = texts(&browser.find_all("section.setup pre code"));
    let host = server.host();
    for slug in ["client-a", "client-b"] {
        let line =
            format!("composer config repositories.packyard-{slug} composer http://{host}/{slug}");
        assert!(setups.contains(&line), "{line} in {setups:?}");
    }
    assert!(
        setups.contains(&format!(
            "composer config --global http-basic.{host} dave YOUR_TOKEN"
        )),
        "{setups:?}"
    );
    assert!(
        !setups
            .iter()
            .any(|line| line.ends_with(&format!("composer http://{host}"))),
        "{setups:?}"
    );
    check_accessibility(&browser, "profile-subrepos");
}

/// Block lists in the browser: an admin blocks a version on `/admin/blocks` (a category
/// Composer reserves is refused beside the form, what was typed kept), the version
/// leaves the metadata and its archive answers 410; the category is switched to flag
/// only, and the block is lifted.
#[test]
fn admins_block_versions_and_lift_blocks_on_their_page() {
    testkit::needs!(Chromium);
    let server = Server::start();
    let admin = add_user_with_password(&server, "admin", &["--admin"]);
    for version in ["1.0.0", "1.2.3"] {
        let reply = upload(
            &server,
            &admin,
            "acme/lib",
            version,
            &package_zip("acme/lib", &[], version),
        );
        assert_eq!(reply.status, 201, "{}", reply.text());
    }
    let reference = version_documents(&server, "admin", &admin, "acme/lib")
        .into_iter()
        .find(|v| v["version"] == "1.2.3")
        .map(|v| v["dist"]["reference"].as_str().unwrap().to_owned())
        .unwrap();
    let browser = Browser::start();
    log_in(&browser, &server, "admin");
    browser.goto(&server.url("/admin/packages"));
    browser.find("nav.admin a[href='/admin/blocks']").click();
    browser.wait_for("#block-package", Duration::from_secs(10));
    browser.find("#block-package").send_keys("acme/lib");
    browser.find("#block-versions").send_keys("1.2.3");
    browser.find("#block-category").send_keys("security");
    browser
        .find("#block-reason")
        .send_keys("sends the environment to a remote host");
    submit(&browser, "form[action='/admin/blocks'] button");
    let refused = browser.find("p.message.error").text();
    assert!(refused.contains("\"security\""), "{refused}");
    assert_eq!(browser.find("#block-versions").property("value"), "1.2.3");
    check_accessibility(&browser, "admin-blocks-refused");
    let category = browser.find("#block-category");
    category.clear();
    category.send_keys("malware");
    submit(&browser, "form[action='/admin/blocks'] button");
    let rows = texts(&browser.find_all("table.blocks tbody tr"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].contains("acme/lib") && rows[0].contains("malware") && rows[0].contains("admin"),
        "{rows:?}"
    );
    check_accessibility(&browser, "admin-blocks");
    assert_eq!(
        p2_version_names(&p2(&server, "admin", &admin, "acme/lib"), "acme/lib"),
        ["1.0.0"]
    );

    // Flag only: 1.2.3 is back in the metadata.
    submit(&browser, "table.categories form button");
    let treatment = browser.find("table.categories tbody tr").text();
    assert!(treatment.contains("flagged"), "{treatment}");
    assert_eq!(
        p2_version_names(&p2(&server, "admin", &admin, "acme/lib"), "acme/lib").len(),
        2
    );
    // Lifting asks first: the button that acts is behind the row's "Lift…".
    assert_eq!(
        browser.execute(
            "return document.querySelector('table.blocks details.confirm').open;",
            &[]
        ),
        Value::Bool(false)
    );
    browser.find("table.blocks details.confirm summary").click();
    submit(&browser, "table.blocks form button");
    assert!(browser.find_all("table.blocks").is_empty());
    assert!(browser.page_source().contains("Nothing is blocked."));
    let archive = get(
        &server.url(&format!("/zipball/acme/lib/{reference}.zip")),
        &[("Authorization", &basic("admin", &admin))],
    );
    assert_eq!(archive.status, 200);
}

#[test]
fn admins_read_the_audit_log_with_filters_and_see_who_downloaded_a_package() {
    testkit::needs!(Chromium);
    let server = Server::start();
    let admin = add_user_with_password(&server, "admin", &["--admin"]);
    let reply = upload(
        &server,
        &admin,
        "acme/lib",
        "1.2.3",
        &package_zip("acme/lib", &[], "1.2.3"),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let customer = server.add_user("carol", false);
    server.cli_ok(&["group", "add", "licensed"]);
    server.cli_ok(&["group", "grant", "licensed", "acme/lib"]);
    server.cli_ok(&["group", "members", "licensed", "--add", "carol"]);
    let dist = version_documents(&server, "admin", &admin, "acme/lib")[0]["dist"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let fetched = wait_for_status(
        &server,
        "carol",
        &customer,
        dist.trim_start_matches(&server.base),
        200,
    );
    assert_eq!(fetched.status, 200);
    // Download counts are written within the 2 s refresh.
    let counted = || server.cli_ok(&["audit", "downloads", "acme/lib"]);
    eventually(Duration::from_secs(10), counted, || !counted().is_empty());

    let browser = Browser::start();
    log_in(&browser, &server, "admin");
    browser.goto(&server.url("/admin/packages"));
    browser.find("nav.admin a[href='/admin/audit']").click();
    browser.wait_for("table.audit", Duration::from_secs(10));
    let rows = texts(&browser.find_all("table.audit tbody tr"));
    assert!(
        rows[0].contains("login.succeeded") && rows[0].contains("admin"),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("version.published") && r.contains("acme/lib 1.2.3")),
        "{rows:?}"
    );
    check_accessibility(&browser, "admin-audit");
    // Narrowed to a package: its entries, and who downloaded it.
    browser.find("#audit-package").send_keys("acme/lib");
    submit(&browser, "form.filters button");
    let rows = texts(&browser.find_all("table.audit tbody tr"));
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r.contains("acme/lib")),
        "{rows:?}"
    );
    let downloads = texts(&browser.find_all("table.downloads tbody tr"));
    assert_eq!(downloads.len(), 1, "{downloads:?}");
    assert!(
        downloads[0].contains("carol") && downloads[0].contains("1.2.3.0"),
        "{downloads:?}"
    );
    check_accessibility(&browser, "admin-audit-package");
    // The actor links to the user's page; an action to its family's entries.
    browser
        .find("table.audit tbody tr a[href='/admin/users/admin']")
        .click();
    browser.wait_for("h1", Duration::from_secs(10));
    assert!(browser.current_url().ends_with("/admin/users/admin"));
    // A bad filter is refused beside the form, which keeps what was typed.
    browser.goto(&server.url("/admin/audit?since=yesterday"));
    let refused = browser.find("p.message.error").text();
    assert!(refused.contains("\"yesterday\""), "{refused}");
    assert_eq!(browser.find("#audit-since").property("value"), "yesterday");
    // Customers cannot read it.
    let page = get(
        &server.url("/admin/audit"),
        &[("Authorization", &basic("carol", &customer))],
    );
    assert_ne!(page.status, 200);
}
