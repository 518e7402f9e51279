//! Signing in through a real OpenID Connect provider (node `oidc-provider`, testkit's):
//! in headless Chromium through the provider's own login page, landing on packyard as a
//! user with the groups its `groups` claim maps to and seeing only their packages;
//! and over HTTP, the refusals a callback must meet: a replayed `state`, a callback in
//! another browser, a provider that refuses; and the provider's key rotation (an
//! unknown `kid` fetches the key set again). What a forged ID token gets (another key,
//! `alg: none`, another audience or issuer, expired, no nonce) is tested in process in
//! `sso::oidc`, since a real provider does not make such tokens.

use testkit::{OidcProvider, OidcUser};

use std::time::Duration;

use crate::common::*;

const ALIAS: &str = "sso";

struct Setup {
    provider: OidcProvider,
    server: Server,
    _config: TempDir,
}

/// The provider and a server with `more` in the provider's `login:` entry.
fn start_with(more: &str) -> Setup {
    start_logging(more, "warn")
}

/// [`start_with`], the server logging at `level`.
fn start_logging(more: &str, level: &str) -> Setup {
    let users = vec![
        OidcUser::new("alice", "alice-password").with_groups(&["developers"]),
        OidcUser::new("mallory", "mallory-password").with_groups(&["contractors"]),
        OidcUser::new("carol", "carol-password").with_groups(&["developers"]),
    ];
    // The redirect URI is known once the server runs: registered just after.
    let mut provider = OidcProvider::start(&["http://127.0.0.1:1/placeholder"], users);
    let dir = TempDir::new("sso-oidc-config");
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "login:\n  {ALIAS}:\n    type: oidc\n    title: Corporate SSO\n    issuer: {issuer}\n    client_id: {id}\n    client_secret_env: TEST_OIDC_SECRET\n    allow_register: true\n    required_groups: [developers]\n    groups: {{developers: [devs]}}\n{more}",
            issuer = provider.issuer(),
            id = provider.client_id(),
        ),
    )
    .unwrap();
    let server = Server::start_with(&[
        ("PACKYARD_CONFIG", &path.display().to_string()),
        ("TEST_OIDC_SECRET", provider.client_secret()),
        ("RUST_LOG", level),
    ]);
    provider.set_redirect_uris(&[&server.url(&format!("/login/{ALIAS}/callback"))]);
    Setup {
        provider,
        server,
        _config: dir,
    }
}

fn start() -> Setup {
    start_with("")
}

/// The `Set-Cookie` of `name` in `reply`, as `name=value`.
fn cookie(reply: &Reply, name: &str) -> Option<String> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

/// Starts a sign-in: the provider's authorization URL and the browser's binding cookie.
fn begin(server: &Server) -> (String, String) {
    let started = get(&server.url(&format!("/login/{ALIAS}")), &[]);
    assert_eq!(started.status, 303, "{}", started.text());
    let location = started.headers["location"].to_str().unwrap().to_owned();
    let binding = cookie(&started, "packyard_sso").expect("a binding cookie");
    (location, binding)
}

#[test]
fn a_provider_user_signs_in_with_its_mapped_groups_and_callbacks_are_checked() {
    testkit::needs!(OidcProvider);
    let Setup {
        mut provider,
        server,
        _config,
    } = start();
    server.cli_ok(&["group", "add", "devs"]);
    let listed = server.cli_ok(&["login", "list"]);
    assert!(
        listed.contains(&format!(
            "sso\toidc\tCorporate SSO\tredirect URL https://HOST/login/sso/callback; issuer {}",
            provider.issuer()
        )),
        "{listed}"
    );

    // Over HTTP: the provider's login form, then its redirect back to the callback.
    let (authorize, binding) = begin(&server);
    assert!(authorize.starts_with(&provider.issuer()), "{authorize}");
    assert!(authorize.contains("code_challenge_method=S256") && authorize.contains("nonce="));
    let callback = provider
        .login(&authorize, "alice", "alice-password")
        .unwrap();
    assert!(
        callback.starts_with(&server.url(&format!("/login/{ALIAS}/callback?"))),
        "{callback}"
    );
    let done = get(&callback, &[("Cookie", &binding)]);
    assert_eq!(done.status, 303, "{}", done.text());
    let session = cookie(&done, "packyard_session").expect("a session");
    let profile = get(&server.url("/profile"), &[("Cookie", &session)]);
    assert_eq!(profile.status, 200);
    assert!(profile.text().contains("alice"), "{}", profile.text());
    let users = server.cli_ok(&["user", "list"]);
    assert!(
        users
            .lines()
            .any(|l| l.starts_with("user alice\t") && l.contains("groups: devs\tsign-in: sso")),
        "{users}"
    );

    // The same callback again: its state was taken.
    let replayed = get(&callback, &[("Cookie", &binding)]);
    assert_eq!(replayed.status, 400, "{}", replayed.text());
    assert!(replayed.text().contains("expired or was used already"));
    // A callback reaching another browser (no binding, or another one) signs nobody in.
    let (authorize, _) = begin(&server);
    let callback = provider
        .login(&authorize, "alice", "alice-password")
        .unwrap();
    let (_, someone_else) = begin(&server);
    for cookies in [vec![], vec![("Cookie", someone_else.as_str())]] {
        let refused = get(&callback, &cookies);
        assert_eq!(refused.status, 400, "{}", refused.text());
        assert!(cookie(&refused, "packyard_session").is_none());
    }
    // A user outside the required groups is refused, and no account is made.
    let (authorize, binding) = begin(&server);
    let callback = provider
        .login(&authorize, "mallory", "mallory-password")
        .unwrap();
    let refused = get(&callback, &[("Cookie", &binding)]);
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(!server.cli_ok(&["user", "list"]).contains("mallory"));
    // The provider's own refusal (a cancelled sign-in) is shown by its code only.
    let (_, binding) = begin(&server);
    let cancelled = get(
        &server.url(&format!(
            "/login/{ALIAS}/callback?error=access_denied&error_description=%3Cscript%3E"
        )),
        &[("Cookie", &binding)],
    );
    assert_eq!(cancelled.status, 401);
    assert!(cancelled.text().contains("(access_denied)") && !cancelled.text().contains("<script>"));

    // An existing user, linked to its identity by an admin, is who that identity signs
    // in as (no new user is made).
    server.add_plain_user("carol.local", &[]);
    server.cli_ok(&[
        "user",
        "link",
        "carol.local",
        "--provider",
        ALIAS,
        "--subject",
        "id-carol",
    ]);
    let unknown = server.cli(&[
        "user",
        "link",
        "carol.local",
        "--provider",
        "nope",
        "--subject",
        "x",
    ]);
    assert!(
        !unknown.status.success() && output_text(&unknown).contains("no identity provider nope")
    );
    let (authorize, binding) = begin(&server);
    let callback = provider
        .login(&authorize, "carol", "carol-password")
        .unwrap();
    let linked = get(&callback, &[("Cookie", &binding)]);
    assert_eq!(linked.status, 303, "{}", linked.text());
    let users = server.cli_ok(&["user", "list"]);
    assert!(
        users.lines().any(
            |l| l.starts_with("user carol.local\t") && l.contains("groups: devs\tsign-in: sso")
        ),
        "{users}"
    );
    assert!(
        !users.lines().any(|l| l.starts_with("user carol\t")),
        "{users}"
    );

    // The provider rolls to a new key: packyard, which has the old key set, fetches
    // the new one at the first token signed with it.
    provider.rotate_key();
    let (authorize, binding) = begin(&server);
    let callback = provider
        .login(&authorize, "alice", "alice-password")
        .unwrap();
    let rotated = get(&callback, &[("Cookie", &binding)]);
    assert_eq!(rotated.status, 303, "{}", rotated.text());
}

#[test]
fn in_chromium_the_provider_login_page_leads_back_signed_in_to_the_granted_packages() {
    testkit::needs!(OidcProvider, Chromium);
    let Setup {
        provider: _provider,
        server,
        _config,
    } = start();
    let admin = server.add_user("admin", true);
    for package in ["acme/dev-tools", "acme/finance"] {
        let archive = package_zip(package, &[], "1.0.0");
        assert_eq!(
            upload(&server, &admin, package, "1.0.0", &archive).status,
            201
        );
    }
    server.cli_ok(&["group", "add", "devs"]);
    server.cli_ok(&["group", "grant", "devs", "acme/dev-tools"]);

    let browser = testkit::browser::Browser::start();
    browser.goto(&server.url("/login"));
    browser.screenshot(screenshots().join("sso-login-page.png"));
    browser.find("a.button[href^='/login/sso']").click();
    // The provider's own page.
    browser.wait_for("#login", std::time::Duration::from_secs(10));
    browser.find("input[name=username]").send_keys("alice");
    browser
        .find("input[name=password]")
        .send_keys("alice-password");
    browser.find("#submit").click();
    // Back on packyard, signed in, seeing what devs grants and nothing else.
    eventually(
        Duration::from_secs(15),
        || browser.current_url(),
        || {
            let at = browser.current_url();
            at.starts_with(&server.url("/")) && !at.contains("/login")
        },
    );
    browser.goto(&server.url("/"));
    let page = browser.page_source();
    browser.screenshot(screenshots().join("sso-oidc-signed-in.png"));
    assert!(page.contains("alice"), "{page}");
    assert!(page.contains("acme/dev-tools"), "{page}");
    assert!(!page.contains("acme/finance"), "{page}");

    // Her Composer token, made on her profile as anyone's, sees the same.
    browser.goto(&server.url("/profile"));
    browser.find("#token-name").send_keys("laptop");
    browser.find("input[name=scope][value=metadata]").click();
    browser
        .find("form[action='/profile/tokens'] button")
        .click();
    let token = browser
        .wait_for("#new-token", std::time::Duration::from_secs(10))
        .text()
        .trim()
        .to_owned();
    let root = get(
        &server.url("/packages.json"),
        &[("Authorization", &basic("alice", &token))],
    );
    assert_eq!(root.status, 200, "{}", root.text());
    assert_eq!(
        root.json()["available-packages"],
        serde_json::json!(["acme/dev-tools"])
    );
}

#[test]
fn a_user_who_stops_signing_in_is_deprovisioned_and_its_token_stops() {
    testkit::needs!(OidcProvider);
    let Setup {
        provider,
        server,
        _config,
    } = start_logging("    deprovision_after: 3s\n", "info");
    // `packyard serve` says at start-up what to register at the provider.
    let redirect = server.url(&format!("/login/{ALIAS}/callback"));
    assert!(server.log().contains(&redirect), "{}", server.log());
    server.cli_ok(&["group", "add", "devs"]);
    let sign_in = || {
        let (authorize, binding) = begin(&server);
        let callback = provider
            .login(&authorize, "alice", "alice-password")
            .unwrap();
        let done = get(&callback, &[("Cookie", &binding)]);
        assert_eq!(done.status, 303, "{}", done.text());
    };
    sign_in();
    let token = server
        .cli_ok(&[
            "token", "create", "alice", "--name", "ci", "--scopes", "metadata",
        ])
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let auth = basic("alice", &token);
    let status = || get(&server.url("/packages.json"), &[("Authorization", &auth)]).status;
    assert_eq!(status(), 200);
    // Three seconds without a sign-in: the token stops working, without a request
    // from anyone.
    eventually(
        Duration::from_secs(15),
        || "alice's token still works".into(),
        || status() == 401,
    );
    assert!(
        server
            .cli_ok(&["user", "list"])
            .lines()
            .any(|l| l.starts_with("user alice\t") && l.ends_with("\tdeprovisioned"))
    );
    // Signing in again brings the account back, token and all.
    sign_in();
    eventually(
        Duration::from_secs(5),
        || "alice's token stays refused".into(),
        || status() == 200,
    );
}

#[test]
fn a_provider_that_is_down_is_said_so() {
    testkit::needs!(OidcProvider);
    let Setup {
        mut provider,
        server,
        _config,
    } = start();
    provider.stop();
    let down = get(&server.url(&format!("/login/{ALIAS}")), &[]);
    assert_eq!(down.status, 503, "{}", down.text());
    assert!(down.text().contains("cannot be reached now"));
}
