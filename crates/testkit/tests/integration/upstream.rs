//! Self-tests of the fake upstream Composer repository, with ureq, reqwest and the real
//! `composer` client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use testkit::TempDir;
use testkit::upstream::{
    DEFAULT_TIME, INITIAL_LAST_MODIFIED, UpstreamRepo, UpstreamServer, dist_reference, expand,
    minify, sha1_hex,
};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Status, headers (lowercased names) and body of a GET.
fn get(url: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut request = agent().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    let mut body = Vec::new();
    response
        .body_mut()
        .as_reader()
        .read_to_end(&mut body)
        .unwrap();
    (status, headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn get_json(url: &str) -> Value {
    let (status, _, body) = get(url, &[]);
    assert_eq!(status, 200, "GET {url}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn sample() -> UpstreamRepo {
    let mut upstream = UpstreamRepo::new();
    upstream.package(
        "psr/log",
        "3.0.0",
        json!({
            "description": "Common interface for logging libraries",
            "type": "library",
            "license": ["MIT"],
            "require": {"php": ">=8.0.0"},
            "autoload": {"psr-4": {"Psr\\Log\\": "src"}},
        }),
        &[(
            "src/LoggerInterface.php",
            "<?php\n\nnamespace Psr\\Log;\n\ninterface LoggerInterface\n{\n}\n",
        )],
    );
    upstream.package(
        "monolog/monolog",
        "3.5.0",
        json!({
            "description": "Sends your logs to files, sockets, inboxes, databases and various web services",
            "type": "library",
            "license": ["MIT"],
            "require": {"php": ">=8.1", "psr/log": "^2.0 || ^3.0"},
            "autoload": {"psr-4": {"Monolog\\": "src/Monolog"}},
        }),
        &[(
            "src/Monolog/Logger.php",
            "<?php\n\nnamespace Monolog;\n\nuse Psr\\Log\\LoggerInterface;\n\nclass Logger implements LoggerInterface\n{\n    public const MARKER = 'upstream-monolog';\n}\n",
        )],
    );
    upstream
}

#[test]
fn packages_json_announces_metadata_url_and_the_keys_a_mirror_strips() {
    let server = sample().serve();
    let root = get_json(&format!("{}/packages.json", server.url()));
    assert_eq!(
        root,
        json!({
            "packages": [],
            "metadata-url": "/p2/%package%.json",
            "notify-batch": "https://example.invalid/downloads/",
            "search": "/search.json?q=%query%",
            "providers-api": "/providers/%package%.json",
            "list": "/list.json",
        })
    );
    assert_eq!(
        get_json(&format!("{}/list.json", server.url())),
        json!({"packageNames": ["monolog/monolog", "psr/log"]})
    );

    let mut upstream = sample();
    upstream
        .announce_available_packages()
        .root_field("search", Value::Null)
        .root_field("info", json!("hello"));
    let server = upstream.serve();
    let root = get_json(&format!("{}/packages.json", server.url()));
    assert_eq!(
        root["available-packages"],
        json!(["monolog/monolog", "psr/log"])
    );
    assert!(root.get("search").is_none());
    assert_eq!(root["info"], "hello");
}

#[test]
fn p2_files_describe_versions_whose_shasum_is_the_served_zip() {
    let server = sample().serve();
    let p2 = get_json(&format!("{}/p2/psr/log.json", server.url()));
    assert!(p2.get("minified").is_none());
    let versions = p2["packages"]["psr/log"].as_array().unwrap();
    assert_eq!(versions.len(), 1);
    let version = &versions[0];
    assert_eq!(version["name"], "psr/log");
    assert_eq!(version["version"], "3.0.0");
    assert_eq!(version["version_normalized"], "3.0.0.0");
    assert_eq!(version["require"], json!({"php": ">=8.0.0"}));
    assert_eq!(version["autoload"], json!({"psr-4": {"Psr\\Log\\": "src"}}));
    assert_eq!(version["time"], DEFAULT_TIME);
    assert_eq!(version["dist"]["type"], "zip");
    let url = server.dist_url("psr/log", "3.0.0");
    assert_eq!(version["dist"]["url"], url.as_str());
    assert_eq!(url, format!("{}/dists/psr/log/3.0.0.zip", server.url()));
    let reference = version["dist"]["reference"].as_str().unwrap();
    assert_eq!(reference, dist_reference("psr/log", "3.0.0"));
    assert_eq!(reference.len(), 40);

    let (status, headers, zip) = get(&url, &[]);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/zip"));
    assert_eq!(version["dist"]["shasum"], sha1_hex(&zip).as_str());

    // A zip with one top-level folder holding composer.json and the files.
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.unwrap().into_owned())
        .collect();
    let folder = format!("psr-log-{}/", &reference[..7]);
    assert!(names.iter().all(|n| n.starts_with(&folder)), "{names:?}");
    let mut manifest = String::new();
    archive
        .by_name(&format!("{folder}composer.json"))
        .unwrap()
        .read_to_string(&mut manifest)
        .unwrap();
    let manifest: Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(manifest["name"], "psr/log");
    assert_eq!(manifest["autoload"], version["autoload"]);
    let mut class = String::new();
    archive
        .by_name(&format!("{folder}src/LoggerInterface.php"))
        .unwrap()
        .read_to_string(&mut class)
        .unwrap();
    assert!(class.contains("interface LoggerInterface"));

    // No dev versions: no ~dev.json, as on packagist.org.
    let (status, _, _) = get(&format!("{}/p2/psr/log~dev.json", server.url()), &[]);
    assert_eq!(status, 404);
}

#[test]
fn zips_are_deterministic_across_servers() {
    let first = sample().serve();
    let second = sample().serve();
    assert_eq!(
        first.zip("psr/log", "3.0.0"),
        second.zip("psr/log", "3.0.0")
    );
}

#[test]
fn corrupt_shasum_announces_a_shasum_that_does_not_match() {
    let mut upstream = sample();
    upstream.corrupt_shasum("monolog/monolog", "3.5.0");
    let server = upstream.serve();
    let p2 = get_json(&format!("{}/p2/monolog/monolog.json", server.url()));
    let dist = &p2["packages"]["monolog/monolog"][0]["dist"];
    let (_, _, zip) = get(dist["url"].as_str().unwrap(), &[]);
    let shasum = dist["shasum"].as_str().unwrap();
    assert_eq!(shasum.len(), 40);
    assert_ne!(shasum, sha1_hex(&zip));

    // Repairing it at run time.
    server.corrupt_shasum("monolog/monolog", "3.5.0", false);
    let p2 = get_json(&format!("{}/p2/monolog/monolog.json", server.url()));
    assert_eq!(
        p2["packages"]["monolog/monolog"][0]["dist"]["shasum"],
        sha1_hex(&zip).as_str()
    );
}

#[test]
fn dev_versions_go_to_the_dev_file_and_tagged_ones_are_newest_first() {
    let mut upstream = UpstreamRepo::new();
    upstream
        .package("acme/tool", "1.2.0", json!({}), &[("a.php", "<?php\n")])
        .package("acme/tool", "v1.10.0", json!({}), &[])
        .package("acme/tool", "1.9.3", json!({}), &[])
        .dev_package("acme/tool", "dev-main", json!({}), &[])
        .dev_package("acme/tool", "dev-feature-x", json!({}), &[])
        .dev_package("acme/branchy", "dev-main", json!({}), &[]);
    let server = upstream.serve();
    // Only branches: no tagged file.
    let (status, _, _) = get(&format!("{}/p2/acme/branchy.json", server.url()), &[]);
    assert_eq!(status, 404);
    // `~` percent-encoded is the same file.
    let (status, _, _) = get(&format!("{}/p2/acme/branchy%7Edev.json", server.url()), &[]);
    assert_eq!(status, 200);
    let tagged = get_json(&format!("{}/p2/acme/tool.json", server.url()));
    let versions: Vec<(&str, &str)> = tagged["packages"]["acme/tool"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap(),
                v["version_normalized"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            ("v1.10.0", "1.10.0.0"),
            ("1.9.3", "1.9.3.0"),
            ("1.2.0", "1.2.0.0")
        ]
    );
    let dev = get_json(&format!("{}/p2/acme/tool~dev.json", server.url()));
    let versions: Vec<(&str, &str)> = dev["packages"]["acme/tool"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap(),
                v["version_normalized"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [("dev-main", "dev-main"), ("dev-feature-x", "dev-feature-x")]
    );
    let (status, _, zip) = get(&server.dist_url("acme/tool", "dev-main"), &[]);
    assert_eq!(status, 200);
    assert_eq!(
        dev["packages"]["acme/tool"][0]["dist"]["shasum"],
        sha1_hex(&zip).as_str()
    );
}

#[test]
fn minified_p2_files_expand_to_the_full_versions() {
    let build = |minified: bool| {
        let mut upstream = UpstreamRepo::new();
        upstream
            .package(
                "psr/log",
                "1.1.4",
                json!({"require": {"php": ">=5.3.0"}, "extra": {"branch-alias": {"dev-master": "1.1.x-dev"}}}),
                &[],
            )
            .package("psr/log", "2.0.0", json!({"require": {"php": ">=8.0.0"}}), &[])
            .package("psr/log", "3.0.0", json!({"require": {"php": ">=8.0.0"}}), &[]);
        if minified {
            upstream.minified();
        }
        upstream.serve()
    };
    let full = build(false);
    let minified = build(true);
    let full_p2 = get_json(&format!("{}/p2/psr/log.json", full.url()));
    let min_p2 = get_json(&format!("{}/p2/psr/log.json", minified.url()));
    assert_eq!(min_p2["minified"], "composer/2.0");
    let list = min_p2["packages"]["psr/log"].as_array().unwrap();
    // 3.0.0 complete, 2.0.0 only what changed, 1.1.4 brings `extra` and a new require.
    assert!(list[0].get("name").is_some());
    assert!(list[1].get("name").is_none());
    assert!(list[1].get("require").is_none());
    assert!(list[2].get("extra").is_some());

    let strip_urls = |mut versions: Vec<serde_json::Map<String, Value>>| {
        for version in &mut versions {
            version["dist"]["url"] = Value::Null;
        }
        versions
    };
    let full_versions: Vec<_> = full_p2["packages"]["psr/log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect();
    assert_eq!(strip_urls(expand(list)), strip_urls(full_versions.clone()));
    // A key present earlier and gone later is "__unset".
    let mut later = full_versions[1].clone();
    later.shift_remove("require");
    let round = minify(&[full_versions[0].clone(), later.clone()]);
    assert_eq!(round[1]["require"], "__unset");
    assert_eq!(expand(&round)[1], later);
}

#[test]
fn last_modified_and_if_modified_since() {
    let server = sample().serve();
    let url = format!("{}/p2/psr/log.json", server.url());
    let (status, headers, body) = get(&url, &[]);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert_eq!(
        header(&headers, "content-length"),
        Some(body.len().to_string().as_str())
    );
    let last_modified = header(&headers, "last-modified").unwrap().to_owned();
    assert_eq!(
        httpdate::parse_http_date(&last_modified).unwrap(),
        SystemTime::UNIX_EPOCH + INITIAL_LAST_MODIFIED
    );

    let (status, headers, body) = get(&url, &[("If-Modified-Since", &last_modified)]);
    assert_eq!(status, 304);
    assert!(body.is_empty());
    assert_eq!(
        header(&headers, "last-modified"),
        Some(last_modified.as_str())
    );
    // An older date gets the file.
    let older = httpdate::fmt_http_date(
        SystemTime::UNIX_EPOCH + INITIAL_LAST_MODIFIED - Duration::from_secs(1),
    );
    let (status, _, _) = get(&url, &[("If-Modified-Since", &older)]);
    assert_eq!(status, 200);
    // A malformed date is ignored.
    let (status, _, _) = get(&url, &[("If-Modified-Since", "yesterday")]);
    assert_eq!(status, 200);

    // touch: same bytes, newer date, twice within a second still strictly increases.
    server.touch("/p2/psr/log.json");
    let first = server.last_modified("/p2/psr/log.json").unwrap();
    server.touch("/p2/psr/log.json");
    let second = server.last_modified("/p2/psr/log.json").unwrap();
    assert!(second > first);
    let (status, headers, _) = get(&url, &[("If-Modified-Since", &last_modified)]);
    assert_eq!(status, 200);
    let touched = header(&headers, "last-modified").unwrap().to_owned();
    assert_eq!(httpdate::parse_http_date(&touched).unwrap(), second);
    let (status, _, _) = get(&url, &[("If-Modified-Since", &touched)]);
    assert_eq!(status, 304);

    // A new version changes the p2 file and its date; the other package's files stay.
    let monolog_before = server.last_modified("/p2/monolog/monolog.json").unwrap();
    server.package(
        "psr/log",
        "3.0.1",
        json!({"require": {"php": ">=8.0.0"}}),
        &[],
    );
    let (status, headers, body) = get(&url, &[("If-Modified-Since", &touched)]);
    assert_eq!(status, 200);
    assert!(
        httpdate::parse_http_date(header(&headers, "last-modified").unwrap()).unwrap() > second
    );
    let p2: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(p2["packages"]["psr/log"][0]["version"], "3.0.1");
    assert_eq!(
        server.last_modified("/p2/monolog/monolog.json").unwrap(),
        monolog_before
    );

    // set_last_modified for full control.
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    server.set_last_modified("/p2/psr/log.json", when);
    let (_, headers, _) = get(&url, &[]);
    assert_eq!(
        header(&headers, "last-modified"),
        Some(httpdate::fmt_http_date(when).as_str())
    );
}

#[test]
fn missing_files_are_a_fast_json_404_and_head_has_no_body() {
    let server = sample().serve();
    let started = Instant::now();
    let (status, headers, body) = get(&format!("{}/p2/nope/nope.json", server.url()), &[]);
    assert_eq!(status, 404);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["status"], "error");
    for path in [
        "/",
        "/p2/",
        "/p2/psr/../psr/log.json",
        "/dists/psr/log/9.9.9.zip",
    ] {
        let (status, _, _) = get(&format!("{}{path}", server.url()), &[]);
        assert_eq!(status, 404, "{path}");
    }

    let (status, headers, body) = {
        let mut response = agent()
            .head(format!("{}/packages.json", server.url()))
            .call()
            .unwrap();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect();
        (
            response.status().as_u16(),
            headers,
            response.body_mut().read_to_vec().unwrap(),
        )
    };
    assert_eq!(status, 200);
    assert!(body.is_empty());
    let length: usize = header(&headers, "content-length").unwrap().parse().unwrap();
    assert_eq!(length, server.file("/packages.json").unwrap().len());

    // Removing a package makes its files 404.
    server.remove_package("monolog/monolog");
    let (status, _, _) = get(&format!("{}/p2/monolog/monolog.json", server.url()), &[]);
    assert_eq!(status, 404);
    let (status, _, _) = get(&server.dist_url("monolog/monolog", "3.5.0"), &[]);
    assert_eq!(status, 404);
}

#[test]
fn requests_are_counted_per_path() {
    let server = sample().serve();
    assert_eq!(server.total(), 0);
    for _ in 0..3 {
        get(&format!("{}/p2/psr/log.json", server.url()), &[]);
    }
    get(&format!("{}/p2/nope/nope.json", server.url()), &[]);
    get(&format!("{}/search.json?q=log", server.url()), &[]);
    agent()
        .head(format!("{}/packages.json", server.url()))
        .call()
        .unwrap();
    assert_eq!(server.count("/p2/psr/log.json"), 3);
    assert_eq!(server.count("/p2/nope/nope.json"), 1);
    assert_eq!(server.count("/search.json"), 1);
    assert_eq!(server.count("/packages.json"), 1);
    assert_eq!(server.count("/p2/monolog/monolog.json"), 0);
    assert_eq!(server.total(), 6);
    let requests = server.requests();
    assert_eq!(requests[0], ("GET".into(), "/p2/psr/log.json".into()));
    assert_eq!(requests[4], ("GET".into(), "/search.json?q=log".into()));
    assert_eq!(requests[5], ("HEAD".into(), "/packages.json".into()));
    get(
        &format!("{}/packages.json", server.url()),
        &[("X-Test", "yes")],
    );
    let log = server.request_log();
    assert_eq!(log.last().unwrap().header("x-test"), Some("yes"));

    server.reset_counts();
    assert_eq!(server.total(), 0);
    assert_eq!(server.count("/p2/psr/log.json"), 0);
    assert!(server.requests().is_empty());

    // Counting is thread-safe.
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let url = format!("{}/packages.json", server.url());
            std::thread::spawn(move || {
                for _ in 0..10 {
                    get(&url, &[]);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(server.count("/packages.json"), 80);
    assert_eq!(server.total(), 80);
}

#[test]
fn stop_refuses_connections_and_start_again_uses_the_same_port() {
    let mut server = sample().serve();
    let url = format!("{}/packages.json", server.url());
    let address = format!("127.0.0.1:{}", server.port());
    // A kept-alive connection open before the stop.
    let mut kept = TcpStream::connect(&address).unwrap();
    kept.write_all(b"GET /packages.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buffer = [0u8; 4096];
    let read = kept.read(&mut buffer).unwrap();
    assert!(buffer[..read].starts_with(b"HTTP/1.1 200"));

    server.stop();
    assert!(!server.is_running());
    let error = TcpStream::connect(&address).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(agent().get(&url).call().is_err());
    // The kept-alive connection is closed too.
    kept.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = kept.write_all(b"GET /packages.json HTTP/1.1\r\nHost: x\r\n\r\n");
    let read = kept.read(&mut buffer).unwrap_or(0);
    assert_eq!(read, 0, "{}", String::from_utf8_lossy(&buffer[..read]));
    server.stop(); // idempotent

    server.start_again();
    assert!(server.is_running());
    let (status, _, _) = get(&url, &[]);
    assert_eq!(status, 200);
}

#[test]
fn dist_delay_keeps_downloads_in_flight() {
    let server = sample().serve();
    server.set_dist_delay(Duration::from_millis(500));
    let url = server.dist_url("psr/log", "3.0.0");
    let path = "/dists/psr/log/3.0.0.zip";
    let started = Instant::now();
    let threads: Vec<_> = (0..100)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || get(&url, &[]))
        })
        .collect();
    // All hundred arrive while the first is still being delayed.
    server.wait_for_count(path, 100, Duration::from_secs(10));
    let zip = server.zip("psr/log", "3.0.0");
    for thread in threads {
        let (status, _, body) = thread.join().unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, zip);
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(500), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    // Metadata is not delayed.
    server.set_dist_delay(Duration::from_secs(30));
    let started = Instant::now();
    get(&format!("{}/p2/psr/log.json", server.url()), &[]);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn failures_and_basic_auth_can_be_injected() {
    let server = sample().serve();
    let url = format!("{}/p2/psr/log.json", server.url());
    server.fail("/p2/psr/log.json", 503);
    assert_eq!(get(&url, &[]).0, 503);
    server.clear_failure("/p2/psr/log.json");
    assert_eq!(get(&url, &[]).0, 200);

    server.put_file("/p2/psr/log.json", "not json");
    assert_eq!(get(&url, &[]).2, b"not json");
    server.remove_file("/p2/psr/log.json");
    assert_eq!(get(&url, &[]).0, 404);
    server.restore_file("/p2/psr/log.json");
    assert_eq!(get(&url, &[]).0, 200);

    server.require_basic_auth(Some(("user", "secret")));
    let (status, headers, _) = get(&url, &[]);
    assert_eq!(status, 401);
    assert!(header(&headers, "www-authenticate").is_some());
    // base64("user:secret")
    assert_eq!(
        get(&url, &[("Authorization", "Basic dXNlcjpzZWNyZXQ=")]).0,
        200
    );
    server.require_basic_auth(None);
    assert_eq!(get(&url, &[]).0, 200);
}

#[test]
fn reqwest_reuses_kept_alive_connections_and_understands_304() {
    let server = sample().serve();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let url = format!("{}/p2/psr/log.json", server.url());
        let mut last_modified = String::new();
        for _ in 0..5 {
            let response = client.get(&url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            last_modified = response.headers()["last-modified"]
                .to_str()
                .unwrap()
                .to_owned();
            let body = response.bytes().await.unwrap();
            assert_eq!(body, server.file("/p2/psr/log.json").unwrap());
        }
        let response = client
            .get(&url)
            .header("If-Modified-Since", &last_modified)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 304);
        assert!(response.bytes().await.unwrap().is_empty());
        let response = client
            .get(server.dist_url("psr/log", "3.0.0"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
        let response = client
            .get(format!("{}/nope.json", server.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        response.bytes().await.unwrap();
    });
    assert_eq!(server.total(), 8);
    assert_eq!(server.connections_accepted(), 1);
}

#[test]
fn raw_http_connection_close_and_http_1_0() {
    let server = sample().serve();
    let address = format!("127.0.0.1:{}", server.port());
    // Two pipelined requests, the second asking to close.
    let mut stream = TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(
            b"GET /packages.json HTTP/1.1\r\nHost: x\r\n\r\nGET /list.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    assert!(text.contains("Connection: close"));
    assert!(text.ends_with(r#"{"packageNames":["monolog/monolog","psr/log"]}"#));

    // HTTP/1.0 without keep-alive is closed after one response.
    let mut stream = TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /list.json HTTP/1.0\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");

    // Garbage gets a 400 and a closed connection.
    let mut stream = TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(b"nonsense\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
}

// ---- the real composer client ----

fn require_composer() {
    let found = Command::new("composer")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(found, "composer is required: run scripts/test");
}

struct Project {
    dir: TempDir,
    home: TempDir,
}

impl Project {
    fn new(server: &UpstreamServer) -> Project {
        require_composer();
        let dir = TempDir::new("upstream-project");
        let home = TempDir::new("upstream-composer-home");
        let manifest = json!({
            "name": "test/project",
            "repositories": [
                {"type": "composer", "url": server.url()},
                {"packagist.org": false},
            ],
            "config": {"secure-http": false},
            "minimum-stability": "stable",
        });
        std::fs::write(
            dir.path().join("composer.json"),
            serde_json::to_vec_pretty(&manifest).unwrap(),
        )
        .unwrap();
        Project { dir, home }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("composer")
            .args(args)
            .args(["--no-interaction", "--no-ansi"])
            .current_dir(self.dir.path())
            .env("COMPOSER_HOME", self.home.path())
            .env("COMPOSER_CACHE_DIR", self.home.path().join("cache"))
            .env("COMPOSER_NO_INTERACTION", "1")
            .env("COMPOSER_ALLOW_SUPERUSER", "1")
            .env_remove("COMPOSER")
            .output()
            .expect("running composer")
    }

    fn lock(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.dir.path().join("composer.lock")).unwrap())
            .unwrap()
    }
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn composer_requires_monolog_from_the_upstream() {
    testkit::needs!(Composer, Php);
    let server = sample().serve();
    let project = Project::new(&server);
    let output = project.run(&["require", "monolog/monolog", "--no-audit"]);
    assert!(output.status.success(), "{}", text(&output));

    let vendor = project.dir.path().join("vendor");
    let logger = std::fs::read_to_string(vendor.join("monolog/monolog/src/Monolog/Logger.php"))
        .expect("monolog installed");
    assert!(logger.contains("upstream-monolog"));
    assert!(vendor.join("psr/log/src/LoggerInterface.php").is_file());
    assert!(vendor.join("monolog/monolog/composer.json").is_file());
    let lock = project.lock();
    let packages: Vec<(&str, &str)> = lock["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["version"].as_str().unwrap()))
        .collect();
    assert_eq!(
        packages,
        [("monolog/monolog", "3.5.0"), ("psr/log", "3.0.0")]
    );
    assert_eq!(
        lock["packages"][0]["dist"]["url"],
        server.dist_url("monolog/monolog", "3.5.0").as_str()
    );
    assert_eq!(server.count("/dists/monolog/monolog/3.5.0.zip"), 1);
    assert_eq!(server.count("/dists/psr/log/3.0.0.zip"), 1);
    assert!(server.count("/p2/monolog/monolog.json") >= 1);

    // The autoloader finds the classes.
    let php = Command::new("php")
        .current_dir(project.dir.path())
        .args([
            "-r",
            "require 'vendor/autoload.php'; echo (new ReflectionClass('Monolog\\Logger'))->implementsInterface('Psr\\Log\\LoggerInterface') ? 'yes' : 'no';",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&php.stdout),
        "yes",
        "{}",
        text(&php)
    );

    // A second resolution revalidates the p2 files with If-Modified-Since: 304s.
    server.reset_counts();
    let output = project.run(&["update", "--no-audit"]);
    assert!(output.status.success(), "{}", text(&output));
    let revalidations: Vec<_> = server
        .request_log()
        .into_iter()
        .filter(|r| r.path == "/p2/monolog/monolog.json")
        .collect();
    assert!(!revalidations.is_empty(), "{:?}", server.requests());
    let expected = httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + INITIAL_LAST_MODIFIED);
    assert!(
        revalidations
            .iter()
            .all(|r| r.header("if-modified-since") == Some(expected.as_str())),
        "{revalidations:?}"
    );
}

#[test]
fn composer_reads_minified_metadata_and_picks_the_constrained_version() {
    testkit::needs!(Composer);
    let mut upstream = UpstreamRepo::new();
    for (version, php) in [
        ("1.1.4", ">=5.3.0"),
        ("2.0.0", ">=8.0.0"),
        ("3.0.0", ">=8.0.0"),
    ] {
        upstream.package(
            "psr/log",
            version,
            json!({"require": {"php": php}, "autoload": {"psr-4": {"Psr\\Log\\": "src"}}}),
            &[("src/Version.php", &format!("<?php // {version}\n"))],
        );
    }
    upstream.dev_package(
        "psr/log",
        "dev-master",
        json!({"autoload": {"psr-4": {"Psr\\Log\\": "src"}}}),
        &[],
    );
    upstream.minified();
    let server = upstream.serve();
    let project = Project::new(&server);
    let output = project.run(&["require", "psr/log:^2.0", "--no-audit"]);
    assert!(output.status.success(), "{}", text(&output));
    let installed =
        std::fs::read_to_string(project.dir.path().join("vendor/psr/log/src/Version.php")).unwrap();
    assert_eq!(installed, "<?php // 2.0.0\n");
    assert_eq!(server.count("/dists/psr/log/2.0.0.zip"), 1);
    // Stable minimum stability: the dev file is never needed.
    assert_eq!(server.count("/p2/psr/log~dev.json"), 0);
}

#[test]
fn composer_rejects_a_corrupt_shasum() {
    testkit::needs!(Composer);
    let mut upstream = sample();
    upstream.corrupt_shasum("psr/log", "3.0.0");
    let server = upstream.serve();
    let project = Project::new(&server);
    let output = project.run(&["require", "psr/log", "--no-audit"]);
    assert!(!output.status.success(), "{}", text(&output));
    let all = text(&output);
    assert!(all.contains("checksum verification"), "{all}");
}
