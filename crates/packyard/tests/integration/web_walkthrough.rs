//! The walk a new administrator and its first customer take through the web UI, in a
//! real headless Chromium, with the real `composer` at the end: the admin's first page,
//! uploads from the top of the packages page, a group with grants, a user added to it
//! from a list, each step confirmed on the page it leads to (and never by a crafted
//! link), destructive steps asked first; then the customer's package page (install
//! command, latest version, dependencies, required-by, version filter), its own token,
//! an install, and a revoke. Every page is checked for labels and phone width and
//! photographed at 1280 and 375 px (`target/screenshots/walk-*.png`).

use std::time::Duration;

use crate::common::*;
use crate::web::{
    PASSWORD, add_user_with_password, archive, check_accessibility, log_in, submit, texts,
};
use testkit::browser::Browser;

/// Uploads `zip` from the admin packages page's form, with `version` typed when given.
fn upload_in_browser(browser: &Browser, server: &Server, zip: &std::path::Path, version: &str) {
    browser.goto(&server.url("/admin/packages"));
    browser
        .find("#upload-file")
        .send_keys(zip.to_str().unwrap());
    if !version.is_empty() {
        browser.find("#upload-version").send_keys(version);
    }
    submit(browser, "form[action='/admin/packages/upload'] button");
}

/// The page's status notice (`role=status`), or an empty string when there is none.
fn notice(browser: &Browser) -> String {
    browser
        .try_find("p.message.ok[role=status]")
        .map(|element| element.text())
        .unwrap_or_default()
}

/// Opens the confirmation of a destructive button (a `<details>`) and presses it.
fn confirm(browser: &Browser, details: &str) {
    browser.find(&format!("{details} summary")).click();
    submit(browser, &format!("{details} button.danger"));
}

#[test]
fn an_admin_sets_up_a_customer_who_installs_with_composer() {
    testkit::needs!(Composer, Chromium);
    let server = Server::start();
    add_user_with_password(&server, "admin", &["--admin"]);
    let browser = Browser::start();
    log_in(&browser, &server, "admin");

    // An admin's first page is the dashboard; on an empty repository it says where
    // to start.
    assert!(
        browser.current_url().ends_with("/admin"),
        "{}",
        browser.current_url()
    );
    assert_eq!(texts(&browser.find_all("h1")), ["Dashboard"]);
    assert_eq!(browser.find(".tile-packages").text(), "0");
    assert!(browser.find("#start").text().contains("Getting started"));
    assert!(
        notice(&browser).contains("Nothing needs attention"),
        "{}",
        notice(&browser)
    );
    check_accessibility(&browser, "walk-dashboard-empty");

    // Empty states say what to do, not just table headers.
    browser.goto(&server.url("/admin/packages"));
    assert!(browser.find("p.empty").text().contains("No packages yet"));
    // The upload form is the first thing on the page, above the list (it was 850 px
    // down, under the git form).
    let upload_top = browser.execute(
        "return document.querySelector('form[action=\"/admin/packages/upload\"]').getBoundingClientRect().top;",
        &[],
    );
    assert!(upload_top.as_f64().unwrap() < 300.0, "{upload_top}");
    check_accessibility(&browser, "walk-packages-empty");

    // Two uploads in a row, each confirmed on the same page.
    let zips = testkit::TempDir::new("walk-zips");
    let lib = serde_json::json!({"description": "The library", "license": "MIT",
        "homepage": "https://lib.example", "require": {"php": ">=8.1"}});
    let app = serde_json::json!({"description": "The app", "license": "proprietary",
        "require": {"acme/lib": "^1.0"}, "require-dev": {"psr/log": "^3.0"}});
    for (file, name, fields, version) in [
        ("lib-1.0.zip", "acme/lib", &lib, "1.0.0"),
        ("lib-1.1.zip", "acme/lib", &lib, "1.1.0"),
        ("app-1.0.zip", "acme/app", &app, "1.0.0"),
        ("tmp-0.1.zip", "acme/tmp", &lib, "0.1.0"),
    ] {
        let path = zips.path().join(file);
        std::fs::write(
            &path,
            archive(name, fields, Some(&format!("# {name}\n\nRead me."))),
        )
        .unwrap();
        upload_in_browser(&browser, &server, &path, version);
        let refused = browser.try_find("p.message.error").map(|e| e.text());
        assert_eq!(refused, None, "{name} {version}");
        assert!(
            browser
                .current_url()
                .contains("/admin/packages?done=uploaded"),
            "{}",
            browser.current_url()
        );
        assert_eq!(
            notice(&browser),
            format!("Uploaded {name} {version}. Open its page, or upload the next one.")
        );
    }
    check_accessibility(&browser, "walk-packages-uploaded");
    // A crafted link cannot make the page claim an upload that did not happen.
    browser.goto(&server.url("/admin/packages?done=uploaded&name=evil/pkg%201.0"));
    assert_eq!(notice(&browser), "");

    // A group: empty at first, then grants, each confirmed.
    browser.goto(&server.url("/admin/groups"));
    assert!(browser.find("p.empty").text().contains("No groups yet"));
    browser.find("#group-name").send_keys("customers");
    submit(&browser, "form[action='/admin/groups'] button");
    assert!(browser.find("p.empty").text().contains("No members yet"));
    for package in ["acme/lib", "acme/app", "acme/tmp"] {
        browser.find("#grant-package").send_keys(package);
        submit(&browser, "form[action$='/grants'] button");
        assert_eq!(notice(&browser), format!("Saved the grant of {package}."));
    }
    // Revoking asks first; the answer says what was revoked.
    confirm(&browser, "table.grants tr:nth-child(3) details.confirm");
    assert_eq!(notice(&browser), "Revoked the grant of acme/tmp.");
    assert_eq!(browser.find_all("table.grants tbody tr").len(), 2);
    // Nor can a link claim a grant that is not there.
    browser.goto(&server.url("/admin/groups/customers?done=granted&name=evil/pkg"));
    assert_eq!(notice(&browser), "");

    // A customer, created without a token, then added to the group from a list of
    // the users who are not members.
    browser.goto(&server.url("/admin/users"));
    browser.find("#user-name").send_keys("erin");
    browser.find("#user-password").send_keys(PASSWORD);
    submit(&browser, "form[action='/admin/users'] button");
    browser.goto(&server.url("/admin/groups/customers"));
    let choices = texts(&browser.find_all("#member-name option"));
    assert_eq!(choices, ["choose a user", "admin", "erin"]);
    browser.find("#member-name option[value=erin]").click();
    submit(&browser, "form[action$='/members'] button");
    assert_eq!(notice(&browser), "Added erin to the group.");
    assert_eq!(texts(&browser.find_all("ul.members li a")), ["erin"]);
    check_accessibility(&browser, "walk-group");

    // The dashboard now counts what there is.
    browser.goto(&server.url("/admin"));
    assert_eq!(browser.find(".tile-packages").text(), "3");
    assert_eq!(browser.find(".tile-users").text(), "2");
    assert_eq!(browser.find(".tile-groups").text(), "1");
    check_accessibility(&browser, "walk-dashboard");
    submit(&browser, "header form[action='/logout'] button");

    // The customer lands on the package list, not on admin pages.
    log_in(&browser, &server, "erin");
    assert!(
        !browser.current_url().contains("/admin"),
        "{}",
        browser.current_url()
    );
    assert_eq!(
        texts(&browser.find_all(".packages .name")),
        ["acme/app", "acme/lib"]
    );
    // A search that finds nothing says so.
    browser.goto(&server.url("/?q=nothing-like-this"));
    assert!(
        browser
            .find("p.empty")
            .text()
            .contains("No package matches")
    );

    // The package page: install command with a Copy button, the latest version, the
    // licence and homepage, no installs yet (said, not a blank chart), who requires
    // it, and a version filter.
    browser.goto(&server.url("/packages/acme/lib"));
    assert_eq!(
        browser.find("#install-command").text(),
        "composer require acme/lib"
    );
    assert!(
        browser
            .try_find(".install-command button.copy-button")
            .is_some()
    );
    assert_eq!(browser.find(".latest-version").text(), "1.1.0");
    assert_eq!(browser.find("dd.license").text(), "MIT");
    assert!(browser.try_find("a[href='https://lib.example']").is_some());
    assert!(browser.try_find(".installs svg").is_none());
    assert!(browser.find(".no-installs").text().contains("No installs"));
    assert_eq!(texts(&browser.find_all("ul.required-by a")), ["acme/app"]);
    browser.find("#version-filter").send_keys("^1.1");
    submit(&browser, "form.version-filter button");
    assert_eq!(
        texts(&browser.find_all(".versions summary .version")),
        ["1.1.0"]
    );
    assert!(
        browser
            .find(".version-count")
            .text()
            .starts_with("1 of 2 versions")
    );
    check_accessibility(&browser, "walk-package");
    // A dependency it can see links to its page; one it cannot is plain text.
    browser.goto(&server.url("/packages/acme/app"));
    assert!(
        browser
            .try_find(".links a[href='/packages/acme/lib'] code")
            .is_some()
    );
    let links = texts(&browser.find_all(".links li"));
    assert!(links.contains(&"psr/log ^3.0".to_owned()), "{links:?}");
    assert!(
        browser
            .try_find(".links a[href='/packages/psr/log']")
            .is_none()
    );
    // acme/tmp's grant was revoked: not a page for erin.
    browser.goto(&server.url("/packages/acme/tmp"));
    assert!(
        browser.title().starts_with("Not found"),
        "{}",
        browser.title()
    );

    // Its own token, from the profile, installs with Composer.
    browser.goto(&server.url("/profile"));
    browser.find("#token-name").send_keys("ci");
    browser.find("input[name=scope][value=metadata]").click();
    submit(&browser, "form[action='/profile/tokens'] button");
    let token = browser
        .wait_for("#new-token", Duration::from_secs(10))
        .text();
    check_accessibility(&browser, "walk-profile-token");
    let project = ComposerProject::new(&server, "erin", &token);
    project.require("acme/app");
    let lock = project.lock();
    let installed: Vec<(&str, &str)> = lock["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["version"].as_str().unwrap()))
        .collect();
    assert_eq!(installed, [("acme/app", "1.0.0"), ("acme/lib", "1.1.0")]);

    // Revoking the token asks first, says so, and Composer is refused afterwards.
    browser.goto(&server.url("/profile"));
    confirm(&browser, "table.tokens details.confirm");
    assert_eq!(notice(&browser), "Revoked the token ci.");
    check_accessibility(&browser, "walk-profile-revoked");
    let refused = wait_for_status(&server, "erin", &token, "/packages.json", 401);
    assert_eq!(refused.status, 401);
}
