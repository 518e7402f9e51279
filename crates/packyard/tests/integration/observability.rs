//! What operators watch: `/metrics` (parsed with a real Prometheus text parser after a
//! real `composer install`), JSON logs with request ids, `/healthz`, `/readyz` and
//! Packeton's `/api/healthz`, with a store that stops answering.

use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;
use testkit::prometheus::Family;

const LIB: &str = "acme/lib";
const METRICS_TOKEN: &str = "scrape-me-0123456789";

fn scrape(server: &Server) -> Vec<Family> {
    let reply = get(
        &server.url("/metrics"),
        &[("Authorization", &format!("Bearer {METRICS_TOKEN}"))],
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let families = testkit::prometheus::parse(&reply.text());
    // Every family is typed as registered: none fell apart into untyped samples.
    for family in &families {
        assert!(family.name.starts_with("packyard_"), "{family:?}");
        assert_ne!(family.kind, "unknown", "{family:?}");
    }
    families
}

/// The sum of the samples named `sample` with these labels (0 if none).
fn value(families: &[Family], sample: &str, labels: &[(&str, &str)]) -> f64 {
    families
        .iter()
        .flat_map(|family| &family.samples)
        .filter(|s| s.name == sample)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).and_then(Value::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

fn kind_of<'a>(families: &'a [Family], name: &str) -> &'a str {
    families
        .iter()
        .find(|family| family.name == name)
        .map_or("absent", |family| family.kind.as_str())
}

#[test]
fn metrics_and_logs_follow_a_composer_install() {
    testkit::needs!(Composer, PrometheusParser);
    let server = Server::start_with(&[
        ("PACKYARD_METRICS_TOKEN", METRICS_TOKEN),
        ("PACKYARD_LOG_FORMAT", "json"),
        ("RUST_LOG", "info,sqlx=warn"),
    ]);
    let admin = server.add_user("admin", true);
    let lib = package_zip(LIB, &[], "lib-1.0.0");
    assert_eq!(upload(&server, &admin, LIB, "1.0.0", &lib).status, 201);

    assert_eq!(get(&server.url("/metrics"), &[]).status, 401);
    assert_eq!(
        get(
            &server.url("/metrics"),
            &[("Authorization", "Bearer wrong")]
        )
        .status,
        401
    );
    let before = scrape(&server);
    let p2_route = [("route", "/p2/{vendor}/{file}"), ("status", "200")];
    let zip_route = [
        ("route", "/zipball/{vendor}/{package}/{file}"),
        ("status", "200"),
    ];

    let project = ComposerProject::new(&server, "admin", &admin);
    project.require(LIB);

    let after = scrape(&server);
    // Counts are whole numbers: compare them as such.
    let moved = |name: &str, labels: &[(&str, &str)]| {
        (value(&after, name, labels) - value(&before, name, labels)).round() as i64
    };
    assert!(moved("packyard_http_requests_total", &p2_route) >= 1);
    assert_eq!(moved("packyard_http_requests_total", &zip_route), 1);
    assert!(
        moved(
            "packyard_http_response_body_bytes_total",
            &[("route", "/zipball/{vendor}/{package}/{file}")]
        ) >= lib.len() as i64
    );
    let zip_latency = [("route", "/zipball/{vendor}/{package}/{file}")];
    assert_eq!(
        moved("packyard_http_request_duration_seconds_count", &zip_latency),
        1
    );
    assert!(
        value(
            &after,
            "packyard_http_request_duration_seconds_sum",
            &zip_latency
        ) > value(
            &before,
            "packyard_http_request_duration_seconds_sum",
            &zip_latency
        )
    );
    assert_eq!(kind_of(&after, "packyard_http_requests"), "counter");
    assert_eq!(
        kind_of(&after, "packyard_http_request_duration_seconds"),
        "histogram"
    );
    assert_eq!(kind_of(&after, "packyard_storage_requests"), "counter");
    assert_eq!(kind_of(&after, "packyard_jobs"), "gauge");
    assert!(
        moved(
            "packyard_storage_requests_total",
            &[("store", "artifact"), ("operation", "get")]
        ) >= 1
    );
    assert!(
        moved(
            "packyard_cache_reads_total",
            &[("cache", "metadata"), ("result", "hit")]
        ) >= 1
    );
    // Composer's notify-batch after the install.
    assert!(moved("packyard_http_requests_total", &[("route", "/downloads/")]) >= 1);
    // The queue depth is read from the database: every state is there.
    for state in ["queued", "running", "succeeded", "failed"] {
        let listed = after.iter().flat_map(|f| &f.samples).any(|s| {
            s.name == "packyard_jobs"
                && s.labels.get("state").and_then(Value::as_str) == Some(state)
        });
        assert!(listed, "no packyard_jobs{{state={state:?}}}");
    }

    // A request id the client chose comes back and is in the log line; others are
    // replaced.
    let chosen = get(
        &server.url("/p2/acme/lib.json"),
        &[
            ("Authorization", &basic("admin", &admin)),
            ("X-Request-Id", "trace-42.a_b"),
        ],
    );
    assert_eq!(
        chosen.header("x-request-id").as_deref(),
        Some("trace-42.a_b")
    );
    let odd = get(
        &server.url("/p2/acme/lib.json"),
        &[
            ("Authorization", &basic("admin", &admin)),
            ("X-Request-Id", "has spaces\"{}"),
        ],
    );
    let replaced = odd.header("x-request-id").unwrap();
    assert!(
        !replaced.is_empty() && !replaced.contains(' '),
        "{replaced}"
    );
    // A token in the query string never reaches the log.
    let by_query = get(
        &server.url(&format!("/p2/acme/lib.json?token=admin:{admin}")),
        &[],
    );
    assert_eq!(by_query.status, 200);

    server.wait_for_log("trace-42.a_b", 1, Duration::from_secs(5));
    let log = server.log();
    let mut requests = 0;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(
            entry.get("level").is_some() && entry.get("timestamp").is_some(),
            "{line}"
        );
        if entry["message"] == "request" {
            requests += 1;
            assert!(
                entry["route"].is_string() && entry["status"].is_number(),
                "{line}"
            );
            assert!(entry["duration_ms"].is_number(), "{line}");
            assert!(entry["span"]["id"].is_string(), "{line}");
        }
    }
    assert!(requests >= 5, "{log}");
    assert!(log.contains(r#""id":"trace-42.a_b""#), "{log}");
    assert!(!log.contains(&admin), "a token reached the log");
}

#[test]
fn health_and_readiness_name_the_store_that_stopped_answering() {
    testkit::needs!(S3sFs);
    let mut s3 = testkit::S3sFs::start("health-bucket");
    let server = Server::start_with(&[
        ("STORAGE_SOURCE", "s3"),
        ("STORAGE_AWS_BUCKET", "health-bucket"),
        ("STORAGE_AWS_ARGS", &s3.storage_aws_args()),
    ]);
    let admin = server.add_user("admin", true);

    let ready = get(&server.url("/readyz"), &[]);
    assert_eq!(ready.status, 200, "{}", ready.text());
    assert_eq!(ready.json()["checks"]["storage:artifact"], "pass");
    let packeton = get(&server.url("/api/healthz"), &[]).json();
    assert_eq!(packeton["status"], "pass");
    let database = &packeton["checks"]["database:ping"];
    assert_eq!(database["status"], "pass");
    assert_eq!(database["observedUnit"], "ms");
    assert!(database["observedValue"].is_number() && database["time"].is_string());

    s3.stop();
    let started = Instant::now();
    let alive = get(&server.url("/healthz"), &[]);
    assert_eq!(alive.status, 200, "liveness asks no dependency");
    let ready = get(&server.url("/readyz"), &[]);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(ready.status, 503, "{}", ready.text());
    let body = ready.json();
    for store in ["dist", "artifact", "mirror-meta", "mirror-dist"] {
        assert_eq!(body["checks"][format!("storage:{store}")], "fail", "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains(&format!("storage:{store}"))
        );
    }
    assert_eq!(body["checks"]["database:ping"], "pass");
    // Packeton's shape: 500, and why only for admins.
    let anonymous = get(&server.url("/api/healthz"), &[]);
    assert_eq!(anonymous.status, 500);
    assert!(
        anonymous.json()["checks"]["storage:dist"]
            .get("output")
            .is_none()
    );
    let admins = get(
        &server.url("/api/healthz"),
        &[("Authorization", &basic("admin", &admin))],
    )
    .json();
    assert!(
        admins["checks"]["storage:dist"]["output"].is_string(),
        "{admins}"
    );

    s3.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&server.url("/readyz"), &[]).status != 200 {
        assert!(
            Instant::now() < deadline,
            "still not ready after the store came back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The attack: `/metrics` names mirror aliases, traffic per route and job counts, and
/// used to answer anyone. Without a token it now answers only admins on the public
/// listener; `PACKYARD_METRICS_LISTEN` serves it (and the probes, nothing else) without
/// credentials on an address of its own.
#[test]
fn metrics_are_not_served_to_anonymous_clients_by_default() {
    let metrics_port = testkit::free_port();
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let server = Server::start_with(&[("PACKYARD_METRICS_LISTEN", &metrics_listen)]);
    let admin = server.add_user("admin", true);
    let customer = server.add_user("customer", false);
    let anonymous = get(&server.url("/metrics"), &[]);
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());
    assert!(
        !anonymous.text().contains("packyard_"),
        "{}",
        anonymous.text()
    );
    assert_eq!(
        get(
            &server.url("/metrics"),
            &[("Authorization", &basic("customer", &customer))]
        )
        .status,
        403
    );
    // Nor for an admin's token that may only read metadata (the one in CI's auth.json).
    let ci = server.cli_ok(&[
        "token", "create", "admin", "--name", "ci", "--scopes", "metadata",
    ]);
    let ci = ci.lines().last().unwrap();
    assert_eq!(
        get(
            &server.url("/metrics"),
            &[("Authorization", &basic("admin", ci))]
        )
        .status,
        403
    );
    let by_admin = get(
        &server.url("/metrics"),
        &[("Authorization", &basic("admin", &admin))],
    );
    assert_eq!(by_admin.status, 200);
    assert!(by_admin.text().contains("packyard_http_requests_total"));

    let scraped = get(&format!("http://{metrics_listen}/metrics"), &[]);
    assert_eq!(scraped.status, 200);
    assert!(scraped.text().contains("packyard_http_requests_total"));
    assert_eq!(
        get(&format!("http://{metrics_listen}/readyz"), &[]).status,
        200
    );
    // Nothing but metrics and probes is reachable there, with or without credentials.
    for path in ["/packages.json", "/api/users", "/login"] {
        let reply = get(
            &format!("http://{metrics_listen}{path}"),
            &[("Authorization", &basic("admin", &admin))],
        );
        assert_eq!(reply.status, 404, "{path}");
    }
}

/// The request log never holds a request up: with stderr a pipe nobody reads (full
/// after 64 KiB), thousands of requests are answered at once; and a clean shutdown
/// writes every line that was queued meanwhile, one per request.
#[test]
fn a_full_stderr_holds_no_request_up_and_a_clean_exit_writes_every_line() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};

    const REQUESTS: usize = 3_000;
    let data = TempDir::new("packyard-stalled-log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_packyard"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PACKYARD_DATA_DIR", data.path())
        .env("PACKYARD_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting packyard");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("packyard listening on ")
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();

    // Nobody reads stderr: each request's line is about 100 bytes, so the pipe is full
    // after a few hundred of them. Before, the next request's thread waited for it.
    let started = Instant::now();
    let worker = std::thread::spawn({
        let url = format!("{base}/healthz");
        move || {
            (0..REQUESTS)
                .filter(|_| get(&url, &[]).status == 200)
                .count()
        }
    });
    while !worker.is_finished() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    if !worker.is_finished() {
        let _ = child.kill();
        panic!("requests were held up by a full stderr");
    }
    let elapsed = started.elapsed();
    let answered = worker.join().unwrap();
    assert_eq!(answered, REQUESTS);
    println!("{REQUESTS} requests with stderr full: {elapsed:?}");

    // Now read stderr, stop the server cleanly, and count the request lines.
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
    let text = reader.join().unwrap();
    let request_lines = text
        .lines()
        .filter(|line| line.contains("request") && line.contains("/healthz"))
        .count();
    assert_eq!(request_lines, REQUESTS, "{}", &text[..text.len().min(2000)]);
}
