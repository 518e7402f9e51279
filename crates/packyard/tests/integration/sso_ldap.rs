//! Signing in through a real OpenLDAP `slapd` (testkit's, with users, groups and a
//! disabled user), over StartTLS checked against the directory's own CA: the web login
//! with a directory password, the user created at the first sign-in with its mapped
//! role and groups (kept in step at each sign-in, memberships an admin made kept), the
//! refusals (a filter injected in the name, an empty or wrong password, a disabled
//! user, a directory that is down), and the periodic re-check that stops a deleted
//! user's Composer token.

use std::time::Duration;

use crate::common::*;

const DIRECTORY: &str = "corp";

/// packyard's `login:` section for `slapd`, with a re-check every second.
fn config(slapd: &testkit::Slapd) -> String {
    format!(
        r#"login:
  break_glass_admin: root
  {DIRECTORY}:
    type: ldap
    title: Company directory
    url: {url}
    starttls: true
    ca_file: {ca}
    bind_dn: {service}
    bind_password_env: TEST_LDAP_BIND_PASSWORD
    user_base: {people}
    user_filter: "(&(objectClass=inetOrgPerson)(uid={{username}})(!(pwdAccountLockedTime=*)))"
    allow_register: true
    roles: {{admins: maintainer}}
    groups: {{developers: [devs]}}
    recheck_interval: 1s
  corp-tls:
    type: ldap
    url: {ldaps}
    ca_file: {ca}
    bind_dn: {service}
    bind_password_env: TEST_LDAP_BIND_PASSWORD
    user_base: {people}
    group_base: {groups}
    group_filter: "(&(objectClass=groupOfNames)(member={{dn}}))"
    allow_register: true
    groups: {{developers: [devs]}}
"#,
        ldaps = slapd.ldaps_url(),
        groups = slapd.groups_dn(),
        url = slapd.url(),
        ca = slapd.ca_file().display(),
        service = slapd.service_dn(),
        people = slapd.people_dn(),
    )
}

struct Setup {
    slapd: testkit::Slapd,
    server: Server,
    _config: TempDir,
}

fn start(extra_env: &[(&str, &str)]) -> Setup {
    let slapd = testkit::Slapd::start();
    let dir = TempDir::new("sso-ldap-config");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config(&slapd)).unwrap();
    let path = path.display().to_string();
    let mut env = vec![
        ("PACKYARD_CONFIG", path.as_str()),
        ("TEST_LDAP_BIND_PASSWORD", slapd.service_password()),
    ];
    env.extend_from_slice(extra_env);
    let server = Server::start_with(&env);
    Setup {
        slapd,
        server,
        _config: dir,
    }
}

fn directory_login(server: &Server, user: &str, password: &str) -> Reply {
    try_login_at(server, &format!("/login/{DIRECTORY}"), user, password, &[])
}

/// The line of `user list` for `name`.
fn user_line(server: &Server, name: &str) -> String {
    server
        .cli_ok(&["user", "list"])
        .lines()
        .find(|line| {
            line.split('\t')
                .next()
                .is_some_and(|first| first.ends_with(&format!(" {name}")))
        })
        .unwrap_or_else(|| panic!("no user {name} in {}", server.cli_ok(&["user", "list"])))
        .to_owned()
}

#[test]
fn directory_users_sign_in_with_their_groups_and_lose_access_when_removed() {
    testkit::needs!(Slapd);
    let Setup {
        slapd,
        server,
        _config,
    } = start(&[]);
    let admin = server.add_user("admin", true);
    for package in ["acme/dev-lib", "acme/secret"] {
        let archive = package_zip(package, &[], "1.0.0");
        assert_eq!(
            upload(&server, &admin, package, "1.0.0", &archive).status,
            201
        );
    }
    server.cli_ok(&["group", "add", "devs"]);
    server.cli_ok(&["group", "grant", "devs", "acme/dev-lib"]);
    server.cli_ok(&["group", "add", "manual"]);

    // The login page has the directory's own form.
    let page = get(&server.url("/login"), &[]).text();
    assert!(page.contains("action=\"/login/corp\""), "{page}");
    assert!(page.contains("Company directory"), "{page}");

    // bob's first sign-in creates him, a plain user in the group his directory group
    // maps to.
    let signed_in = directory_login(&server, "bob", "bob-password");
    assert_eq!(signed_in.status, 303, "{}", signed_in.text());
    let bob = user_line(&server, "bob");
    assert!(bob.starts_with("user bob\t"), "{bob}");
    assert!(bob.contains("groups: devs\tsign-in: corp"), "{bob}");
    // The audit log has the account the sign-in made, as done through the directory,
    // and the sign-in, by bob through it.
    let entries: Vec<serde_json::Value> = server
        .cli_ok(&["audit", "list", "--json"])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let recorded = |action: &str, actor: &str| {
        entries.iter().any(|entry| {
            entry["action"] == action
                && entry["object"] == "bob"
                && entry["actor"] == actor
                && entry["credential"] == "ldap corp"
        })
    };
    assert!(recorded("user.created", ""), "{entries:?}");
    assert!(recorded("login.succeeded", "bob"), "{entries:?}");
    // alice is in `admins`: a maintainer here.
    assert_eq!(
        directory_login(&server, "alice", "alice-password").status,
        303
    );
    assert!(user_line(&server, "alice").starts_with("maintainer alice\t"));

    // bob's Composer token sees what devs grants, and nothing else.
    let token = server
        .cli_ok(&[
            "token", "create", "bob", "--name", "ci", "--scopes", "metadata",
        ])
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let auth = basic("bob", &token);
    let sees = || get(&server.url("/packages.json"), &[("Authorization", &auth)]);
    eventually(
        Duration::from_secs(8),
        || sees().text(),
        || {
            let root = sees();
            root.status == 200
                && root.json()["available-packages"] == serde_json::json!(["acme/dev-lib"])
        },
    );

    // The same directory over ldaps://, its groups found by a search of the groups.
    slapd.add_user("dana", "dana-password", "dana@example.test");
    slapd.add_to_group("dana", "developers");
    let over_tls = try_login_at(&server, "/login/corp-tls", "dana", "dana-password", &[]);
    assert_eq!(over_tls.status, 303, "{}", over_tls.text());
    let dana = user_line(&server, "dana");
    assert!(dana.contains("groups: devs\tsign-in: corp-tls"), "{dana}");
    // An identity at another provider is never linked to a user by its name.
    let same_name = try_login_at(&server, "/login/corp-tls", "alice", "alice-password", &[]);
    assert_eq!(same_name.status, 403, "{}", same_name.text());
    assert!(same_name.text().contains("no account for you here yet"));
    assert!(!user_line(&server, "alice").contains("corp-tls"));

    // Refusals: nothing a name can inject, no empty or wrong password, no disabled
    // user; each answers as a wrong password does.
    for (user, password, status) in [
        ("*)(uid=*", "alice-password", 401),
        ("*", "alice-password", 401),
        ("alice)(|(uid=*", "alice-password", 401),
        ("alice", "wrong", 401),
        ("carol", "carol-password", 401),
        ("nobody", "x", 401),
        ("alice", "", 400),
    ] {
        let refused = directory_login(&server, user, password);
        assert_eq!(
            refused.status,
            status,
            "{user}/{password}: {}",
            refused.text()
        );
    }
    assert!(
        server
            .cli_ok(&["user", "list"])
            .lines()
            .all(|line| !line.contains("carol") && !line.contains('*'))
    );

    // Memberships follow the directory at each sign-in; the one an admin made stays.
    server.cli_ok(&["group", "members", "manual", "--add", "bob"]);
    slapd.remove_from_group("bob", "developers");
    assert_eq!(directory_login(&server, "bob", "bob-password").status, 303);
    let bob = user_line(&server, "bob");
    assert!(bob.contains("groups: manual\t"), "{bob}");

    // Removed from a group, without signing in: the re-check (every second here) reads
    // alice's groups again and her mapped membership goes.
    assert!(user_line(&server, "alice").contains("groups: devs\t"));
    slapd.remove_from_group("alice", "developers");
    eventually(
        Duration::from_secs(15),
        || user_line(&server, "alice"),
        || !user_line(&server, "alice").contains("groups: devs\t"),
    );

    // Deleted in the directory: the re-check (every second here) deprovisions bob and
    // his token stops working, without him signing in.
    slapd.delete_user("bob");
    eventually(
        Duration::from_secs(15),
        || "bob's token still works".into(),
        || get(&server.url("/packages.json"), &[("Authorization", &auth)]).status == 401,
    );
    assert!(user_line(&server, "bob").ends_with("\tdeprovisioned"));
    // Someone new gets bob's name (and DN) in the directory: not bob's account, which
    // stays removed with its token.
    slapd.add_user("bob", "new-bob-password", "new-bob@example.test");
    let newcomer = directory_login(&server, "bob", "new-bob-password");
    assert_eq!(newcomer.status, 403, "{}", newcomer.text());
    assert!(user_line(&server, "bob").ends_with("\tdeprovisioned"));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        get(&server.url("/packages.json"), &[("Authorization", &auth)]).status,
        401,
        "the re-check took the newcomer for bob"
    );
    // alice, still in the directory, is untouched.
    assert!(!user_line(&server, "alice").contains("deprovisioned"));

    // A directory that does not answer is the operator's problem, said as such.
    let mut slapd = slapd;
    slapd.service.kill();
    let unreachable = directory_login(&server, "alice", "alice-password");
    assert_eq!(unreachable.status, 503, "{}", unreachable.text());
    assert!(unreachable.text().contains("cannot be reached"));
}

#[test]
fn with_passwords_off_only_the_break_glass_admin_has_one() {
    testkit::needs!(Slapd);
    let Setup {
        server,
        _config,
        slapd: _slapd,
    } = start(&[("PACKYARD_PASSWORD_LOGIN", "0")]);
    for name in ["root", "eve"] {
        server.add_user(name, true);
        let set = server.cli_input(&["user", "passwd", name], "long enough password\n");
        assert!(set.status.success(), "{}", output_text(&set));
    }
    let page = get(&server.url("/login"), &[]).text();
    assert!(
        !page.contains("action=\"/login\""),
        "no password form: {page}"
    );
    assert!(
        get(&server.url("/login?password=1"), &[])
            .text()
            .contains("action=\"/login\"")
    );
    assert_eq!(
        try_login(&server, "root", "long enough password", &[]).status,
        303
    );
    let refused = try_login(&server, "eve", "long enough password", &[]);
    assert_eq!(refused.status, 401, "{}", refused.text());
    assert!(refused.text().contains("Wrong user name or password."));
    // The directory still signs people in.
    assert_eq!(
        directory_login(&server, "alice", "alice-password").status,
        303
    );
}

#[test]
fn in_chromium_a_directory_user_signs_in_with_the_directorys_form() {
    testkit::needs!(Slapd, Chromium);
    let Setup {
        slapd: _slapd,
        server,
        _config,
    } = start(&[]);
    let browser = testkit::browser::Browser::start();
    browser.goto(&server.url("/login"));
    browser.find("#username-corp").send_keys("alice");
    browser.find("#password-corp").send_keys("alice-password");
    browser.screenshot(screenshots().join("sso-ldap-login.png"));
    browser.find("form[action='/login/corp'] button").click();
    eventually(
        Duration::from_secs(10),
        || browser.current_url(),
        || !browser.current_url().contains("/login"),
    );
    browser.goto(&server.url("/profile"));
    assert!(browser.page_source().contains("alice"));
    // A wrong password stays on the directory's form, saying so.
    browser.delete_cookies();
    browser.goto(&server.url("/login"));
    browser.find("#username-corp").send_keys("alice");
    browser.find("#password-corp").send_keys("not her password");
    browser.find("form[action='/login/corp'] button").click();
    let error = browser.wait_for(".provider .error", std::time::Duration::from_secs(10));
    assert!(
        error.text().contains("Wrong user name or password"),
        "{}",
        error.text()
    );
}
