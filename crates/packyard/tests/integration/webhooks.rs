//! Outgoing webhooks against a real HTTP receiver: signed deliveries, retries with
//! back-off that survive a server restart, redelivery, and the outbound network
//! policy that keeps hooks off loopback unless allowed.

use std::time::{Duration, Instant};

use crate::common::*;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use testkit::hook_receiver::{HookReceiver, Received};

const SECRET: &str = "a-receivers-shared-secret";

fn server() -> (Server, String) {
    let server = Server::start_with(&[
        ("PACKYARD_SECRET", "webhook test secret"),
        ("PACKYARD_ALLOW_NETWORKS", "127.0.0.0/8"),
        // Retries after 1 s, then 2 s, ...
        ("PACKYARD_JOB_RETRY_BACKOFF", "1s"),
    ]);
    let admin = server.add_user("admin", true);
    (server, admin)
}

fn verify(received: &Received) {
    let header = received
        .header("x-packyard-signature")
        .expect("a signature header");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&received.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(header, expected, "the signature does not verify");
}

/// Waits until `packyard jobs` shows a webhook delivery queued for a retry after the
/// receiver's `status`: the failed attempt is recorded and its retry scheduled.
fn wait_for_retry_after(server: &Server, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let expected = format!("the receiver answered {status}");
    loop {
        let jobs = server.cli_ok(&["jobs", "--state", "queued"]);
        if jobs
            .lines()
            .any(|line| line.contains("webhook_delivery") && line.contains(&expected))
        {
            return;
        }
        assert!(Instant::now() < deadline, "no retry queued:\n{jobs}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn deliveries_are_signed_retried_across_a_restart_and_redelivered() {
    // Fails twice, then takes the third attempt (and anything after).
    let hooks = HookReceiver::start(&[500, 503]);
    let (mut server, admin) = server();
    server.cli_ok(&[
        "webhook",
        "add",
        "ci",
        "--url",
        &hooks.url("/hooks/packyard"),
        "--events",
        "new_release,security_advisory",
        "--package",
        "acme/*",
        "--secret",
        SECRET,
    ]);

    let archive = package_zip("acme/lib", &[], "lib-1.0.0");
    assert_eq!(
        upload(&server, &admin, "acme/lib", "1.0.0", &archive).status,
        201
    );
    // Not matched by the hook's pattern: never delivered.
    let other = package_zip("other/lib", &[], "other-1.0.0");
    assert_eq!(
        upload(&server, &admin, "other/lib", "1.0.0", &other).status,
        201
    );

    hooks.wait_for(2, Duration::from_secs(20));
    wait_for_retry_after(&server, 503);
    // The server goes down between the second and the third attempt; the delivery
    // waits in the database.
    server.stop();
    std::thread::sleep(Duration::from_millis(2_500));
    assert_eq!(
        hooks.received().len(),
        2,
        "an attempt was made while stopped"
    );
    server.restart_with(&[]);

    let received = hooks.wait_for(3, Duration::from_secs(20));
    let statuses: Vec<u16> = received.iter().map(|r| r.answered).collect();
    assert_eq!(statuses, [500, 503, 200]);
    let delivery = received[0]
        .header("x-packyard-delivery")
        .unwrap()
        .to_owned();
    for attempt in &received {
        verify(attempt);
        assert_eq!(attempt.method, "POST");
        assert_eq!(attempt.path, "/hooks/packyard");
        assert_eq!(attempt.header("x-packyard-event"), Some("new_release"));
        assert_eq!(
            attempt.header("x-packyard-delivery"),
            Some(delivery.as_str())
        );
        assert_eq!(attempt.header("content-type"), Some("application/json"));
        assert_eq!(
            attempt.body, received[0].body,
            "every attempt sends the same body"
        );
    }
    let payload: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(payload["event"], "new_release");
    assert_eq!(payload["delivery"], delivery.as_str());
    assert_eq!(payload["hook"], "ci");
    assert_eq!(payload["package"]["name"], "acme/lib");
    assert_eq!(payload["version"]["version"], "1.0.0");
    assert_eq!(payload["version"]["version_normalized"], "1.0.0.0");

    // Every attempt is on record, with the receiver's status and answer.
    let shown = server.cli_ok(&["webhook", "deliveries", "ci"]);
    assert!(shown.contains(&format!("{delivery}\t")), "{shown}");
    assert!(
        shown.contains("\tnew_release\tacme/lib\tdelivered"),
        "{shown}"
    );
    for (number, status) in [(1, 500), (2, 503), (3, 200)] {
        let line = shown
            .lines()
            .find(|line| {
                line.trim_start()
                    .starts_with(&format!("attempt {number}\t"))
            })
            .unwrap_or_else(|| panic!("no attempt {number} in\n{shown}"));
        assert!(
            line.contains(&format!(
                "\t{status}\tanswer {status} from the test receiver"
            )),
            "{line}"
        );
    }
    let api = get(
        &server.url("/api/webhooks/ci/deliveries"),
        &[("Authorization", &basic("admin", &admin))],
    );
    assert_eq!(api.status, 200, "{}", api.text());
    let api = api.json();
    assert_eq!(api["deliveries"][0]["state"], "delivered");
    assert_eq!(
        api["deliveries"][0]["attempts"].as_array().unwrap().len(),
        3
    );

    // Redelivery on request: the same delivery, once more.
    let again = post(
        &server.url(&format!("/api/webhooks/deliveries/{delivery}/redeliver")),
        &[("Authorization", &basic("admin", &admin))],
        b"",
    );
    assert_eq!(again.status, 202, "{}", again.text());
    let received = hooks.wait_for(4, Duration::from_secs(20));
    assert_eq!(
        received[3].header("x-packyard-delivery"),
        Some(delivery.as_str())
    );
    verify(&received[3]);

    // Another event, from the CLI: an advisory for a matching package.
    server.cli_ok(&[
        "advisory",
        "add",
        "acme/lib",
        "--affected",
        "<2",
        "--title",
        "Hooked",
    ]);
    let received = hooks.wait_for(5, Duration::from_secs(20));
    let advisory = &received[4];
    verify(advisory);
    assert_eq!(
        advisory.header("x-packyard-event"),
        Some("security_advisory")
    );
    let payload: Value = serde_json::from_slice(&advisory.body).unwrap();
    assert_eq!(payload["advisory"]["title"], "Hooked");
    assert_eq!(payload["package"]["name"], "acme/lib");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(hooks.received().len(), 5, "other/lib was delivered");
}

#[test]
fn hooks_are_managed_by_admins_and_kept_off_loopback_unless_allowed() {
    let hooks = HookReceiver::start(&[]);
    // The default policy (test servers otherwise allow loopback).
    let server = Server::start_with(&[
        ("PACKYARD_SECRET", "webhook test secret"),
        ("PACKYARD_JOB_RETRY_BACKOFF", "1s"),
        ("PACKYARD_ALLOW_NETWORKS", ""),
    ]);
    let admin = server.add_user("admin", true);
    let reader = server.add_user("reader", false);
    let hook = |url: &str| json!({"name": "local", "url": url, "events": ["new_release"]});

    // A literal loopback address is refused when the hook is made.
    let refused = post_json(
        &server,
        "admin",
        &admin,
        "/api/webhooks",
        &hook(&hooks.url("/")),
    );
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(refused.text().contains("127.0.0.0/8"), "{}", refused.text());
    assert!(
        refused.text().contains("PACKYARD_ALLOW_NETWORKS"),
        "{}",
        refused.text()
    );
    let metadata = post_json(
        &server,
        "admin",
        &admin,
        "/api/webhooks",
        &hook("http://169.254.169.254/latest/meta-data/"),
    );
    assert_eq!(metadata.status, 400, "{}", metadata.text());
    // Metadata services outside 169.254.0.0/16, and 169.254.169.254 (or loopback)
    // reached through NAT64, 6to4 or an IPv4-compatible address (security issue 23).
    for (url, network) in [
        (
            "http://[fd00:ec2::254]/latest/meta-data/",
            "fd00:ec2::254/128",
        ),
        (
            "http://[fd20:ce::254]/computeMetadata/v1/",
            "fd20:ce::254/128",
        ),
        (
            "http://100.100.100.200/latest/meta-data/",
            "100.100.100.200/32",
        ),
        (
            "http://168.63.129.16/machine?comp=goalstate",
            "168.63.129.16/32",
        ),
        (
            "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
            "169.254.0.0/16",
        ),
        (
            "http://[64:ff9b:1:a9fe:a9:fe00::]/latest/meta-data/",
            "169.254.0.0/16",
        ),
        ("http://[::a9fe:a9fe]/latest/meta-data/", "169.254.0.0/16"),
        (
            "http://[2002:a9fe:a9fe::1]/latest/meta-data/",
            "169.254.0.0/16",
        ),
        (
            "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
            "169.254.0.0/16",
        ),
        (
            &hooks.url("/").replace("127.0.0.1", "[64:ff9b::7f00:1]"),
            "127.0.0.0/8",
        ),
    ] {
        let refused = post_json(&server, "admin", &admin, "/api/webhooks", &hook(url));
        assert_eq!(refused.status, 400, "{url}: {}", refused.text());
        assert!(
            refused.text().contains(network),
            "{url}: {}",
            refused.text()
        );
    }

    // A name is checked after it resolves, at every attempt: `localhost` is accepted
    // as a URL, and no attempt reaches the receiver.
    let by_name = hooks.url("/").replace("127.0.0.1", "localhost");
    let created = post_json(&server, "admin", &admin, "/api/webhooks", &hook(&by_name));
    assert_eq!(created.status, 201, "{}", created.text());
    let created = created.json();
    assert_eq!(created["secret"].as_str().unwrap().len(), 64);
    let archive = package_zip("acme/lib", &[], "lib-1.0.0");
    assert_eq!(
        upload(&server, &admin, "acme/lib", "1.0.0", &archive).status,
        201
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let shown = loop {
        let shown = server.cli_ok(&["webhook", "deliveries", "local"]);
        if shown.contains("attempt 1\t") {
            break shown;
        }
        assert!(Instant::now() < deadline, "no attempt recorded:\n{shown}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(shown.contains("PACKYARD_ALLOW_NETWORKS"), "{shown}");
    assert!(hooks.received().is_empty(), "a refused address was reached");

    // Only admins manage hooks; the secret is never listed.
    let listed = get(
        &server.url("/api/webhooks"),
        &[("Authorization", &basic("admin", &admin))],
    );
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json()["webhooks"][0]["name"], "local");
    assert!(!listed.text().contains(created["secret"].as_str().unwrap()));
    assert_eq!(
        get(
            &server.url("/api/webhooks"),
            &[("Authorization", &basic("reader", &reader))]
        )
        .status,
        403
    );
    assert_eq!(
        post_json(
            &server,
            "reader",
            &reader,
            "/api/webhooks",
            &hook("https://example.invalid/")
        )
        .status,
        403
    );
    assert_eq!(
        post_json(
            &server,
            "admin",
            &admin,
            "/api/webhooks",
            &hook("https://example.invalid/")
        )
        .status,
        409
    );

    // Bad hooks are refused with what is wrong.
    for (field, value, named) in [
        ("events", json!(["new_release", "push"]), "push"),
        ("events", json!([]), "events"),
        ("url", json!("ftp://example.invalid/"), "ftp://"),
        (
            "url",
            json!("https://user:pw@example.invalid/"),
            "credentials",
        ),
        ("package", json!("acme/<x>"), "package"),
        ("secret", json!("short"), "secret"),
        ("name", json!("has space"), "name"),
    ] {
        let mut bad =
            json!({"name": "bad", "url": "https://example.invalid/", "events": ["new_release"]});
        bad[field] = value;
        let reply = post_json(&server, "admin", &admin, "/api/webhooks", &bad);
        assert_eq!(reply.status, 400, "{field}: {}", reply.text());
        assert!(reply.text().contains(named), "{field}: {}", reply.text());
    }
    let cli = server.cli(&[
        "webhook",
        "add",
        "x",
        "--url",
        "https://example.invalid/",
        "--events",
        "nonsense",
    ]);
    assert!(!cli.status.success());
    assert!(
        output_text(&cli).contains("nonsense"),
        "{}",
        output_text(&cli)
    );

    // Without PACKYARD_SECRET there is nothing to seal the signing secret with.
    let unsealed = server.cli_with(
        &[("PACKYARD_SECRET", "")],
        &[
            "webhook",
            "add",
            "x",
            "--url",
            "https://example.invalid/",
            "--events",
            "new_release",
        ],
    );
    assert!(!unsealed.status.success());
    assert!(
        output_text(&unsealed).contains("PACKYARD_SECRET"),
        "{}",
        output_text(&unsealed)
    );

    let remove = |name: &str| {
        delete(
            &server.url(&format!("/api/webhooks/{name}")),
            &[("Authorization", &basic("admin", &admin))],
        )
        .status
    };
    assert_eq!(remove("local"), 204);
    assert_eq!(remove("local"), 404);
    assert_eq!(server.cli_ok(&["webhook", "list"]).trim(), "");
}

/// Security issue 23: the proxy the operator configured is reached wherever it is
/// (here `localhost`, which the network policy refuses), as mirrors and git reach it.
#[test]
fn deliveries_reach_a_configured_proxy_on_loopback_which_the_policy_refuses() {
    let proxy = RecordingProxy::start();
    let proxy_url = format!("http://localhost:{}", proxy.address.port());
    let server = Server::start_with(&[
        ("PACKYARD_SECRET", "webhook test secret"),
        // Nothing allowed beyond the defaults, which refuse loopback.
        ("PACKYARD_ALLOW_NETWORKS", ""),
        ("PACKYARD_OUTBOUND_PROXY", &proxy_url),
    ]);
    let admin = server.add_user("admin", true);
    server.cli_ok(&[
        "webhook",
        "add",
        "ci",
        "--url",
        "http://hooks.invalid/direct",
        "--events",
        "new_release",
    ]);
    let archive = package_zip("acme/lib", &[], "lib-1.0.0");
    assert_eq!(
        upload(&server, &admin, "acme/lib", "1.0.0", &archive).status,
        201
    );
    let expected = "POST http://hooks.invalid/direct HTTP/1.1".to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !proxy.requests().contains(&expected) {
        assert!(
            Instant::now() < deadline,
            "{:?}\n{}",
            proxy.requests(),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Security issue 23: `HTTP_PROXY` and the like in the server's environment are not
/// used (a proxy resolves names where the network policy cannot see); deliveries go
/// through a proxy only when `PACKYARD_OUTBOUND_PROXY` names it.
#[test]
fn deliveries_go_through_a_proxy_only_when_one_is_configured() {
    let hooks = HookReceiver::start(&[]);
    let proxy = RecordingProxy::start();
    let mut env = proxy.environment();
    env.push(("PACKYARD_SECRET", "webhook test secret".to_owned()));
    env.push(("PACKYARD_JOB_RETRY_BACKOFF", "1s".to_owned()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = Server::start_with(&env);
    let admin = server.add_user("admin", true);
    server.cli_ok(&[
        "webhook",
        "add",
        "ci",
        "--url",
        &hooks.url("/direct"),
        "--events",
        "new_release",
    ]);
    let archive = package_zip("acme/lib", &[], "lib-1.0.0");
    assert_eq!(
        upload(&server, &admin, "acme/lib", "1.0.0", &archive).status,
        201
    );
    hooks.wait_for(1, Duration::from_secs(20));
    assert_eq!(
        proxy.requests(),
        Vec::<String>::new(),
        "went through the proxy"
    );

    server.restart_with(&[("PACKYARD_OUTBOUND_PROXY", &proxy.url())]);
    let archive = package_zip("acme/lib", &[], "lib-1.0.1");
    assert_eq!(
        upload(&server, &admin, "acme/lib", "1.0.1", &archive).status,
        201
    );
    let expected = format!("POST {} HTTP/1.1", hooks.url("/direct"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !proxy.requests().contains(&expected) {
        assert!(Instant::now() < deadline, "{:?}", proxy.requests());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(hooks.received().len(), 1, "the second delivery went direct");
}
