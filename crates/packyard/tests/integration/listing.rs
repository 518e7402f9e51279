//! List, search and install statistics, with the real `composer search` and
//! `composer show --available`, and through the access rules.

use crate::common::*;
use serde_json::json;
use testkit::upstream::UpstreamRepo;

/// An archive of `name` with its own description, type and keywords.
fn archive(name: &str, description: &str, kind: &str, keywords: &[&str]) -> Vec<u8> {
    let manifest = json!({
        "name": name,
        "description": description,
        "type": kind,
        "keywords": keywords,
        "license": "MIT",
    });
    zip(&[Entry::File(
        "composer.json",
        manifest.to_string().as_bytes(),
    )])
}

/// A server with four packages, a customer who sees only `acme/yaml` 1.x, and the
/// admin's token.
fn catalogue_server() -> (Server, String, String) {
    let server = Server::start();
    let admin = server.add_user("admin", true);
    for (name, version, description, kind, keywords) in [
        (
            "acme/yaml",
            "1.0.0",
            "Parses YAML files",
            "library",
            &["yaml", "parser"][..],
        ),
        (
            "acme/yaml",
            "2.0.0",
            "Parses YAML files, faster",
            "library",
            &["yaml"][..],
        ),
        (
            "acme/json",
            "1.0.0",
            "Parses JSON",
            "library",
            &["json", "parser"][..],
        ),
        ("acme/site", "1.0.0", "The company site", "project", &[][..]),
        (
            "other/yaml-tools",
            "1.0.0",
            "Tools around YAML",
            "library",
            &[][..],
        ),
    ] {
        let reply = upload(
            &server,
            &admin,
            name,
            version,
            &archive(name, description, kind, keywords),
        );
        assert_eq!(reply.status, 201, "{}", reply.text());
    }
    server.cli_ok(&["group", "add", "customers"]);
    server.cli_ok(&[
        "group",
        "grant",
        "customers",
        "acme/yaml",
        "--versions",
        "^1.0",
    ]);
    let customer = server.add_plain_user("carol", &[]);
    server.cli_ok(&["group", "members", "customers", "--add", "carol"]);
    wait_for_status(&server, "carol", &customer, "/p2/acme/yaml.json", 200);
    (server, admin, customer)
}

fn get_as(server: &Server, user: &str, token: &str, path: &str) -> Reply {
    get(&server.url(path), &[("Authorization", &basic(user, token))])
}

fn names(reply: &Reply) -> Vec<String> {
    let json = reply.json();
    json["packageNames"]
        .as_array()
        .unwrap_or_else(|| panic!("{json}"))
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn list_and_search_answer_composer_and_the_access_rules() {
    testkit::needs!(Composer);
    let (server, admin, customer) = catalogue_server();
    let root = get_as(&server, "admin", &admin, "/packages.json").json();
    assert_eq!(root["list"], server.url("/packages/list.json"));
    assert_eq!(
        root["search"],
        server.url("/search.json?q=%query%&type=%type%")
    );

    let all = get_as(&server, "admin", &admin, "/packages/list.json");
    assert_eq!(
        names(&all),
        ["acme/json", "acme/site", "acme/yaml", "other/yaml-tools"]
    );
    let filtered = get_as(
        &server,
        "admin",
        &admin,
        "/packages/list.json?filter=ACME/*a*",
    );
    assert_eq!(names(&filtered), ["acme/yaml"]);
    let vendor = get_as(&server, "admin", &admin, "/packages/list.json?vendor=other");
    assert_eq!(names(&vendor), ["other/yaml-tools"]);
    let projects = get_as(&server, "admin", &admin, "/packages/list.json?type=project");
    assert_eq!(names(&projects), ["acme/site"]);
    let carols = get_as(&server, "carol", &customer, "/packages/list.json");
    assert_eq!(names(&carols), ["acme/yaml"]);

    let found = get_as(&server, "admin", &admin, "/search.json?q=yaml&type=").json();
    assert_eq!(found["total"], 2, "{found}");
    assert_eq!(found["results"][0]["name"], "acme/yaml");
    assert_eq!(
        found["results"][0]["description"],
        "Parses YAML files, faster"
    );
    assert_eq!(
        found["results"][0]["url"],
        server.url("/packages/acme/yaml")
    );
    assert!(found.get("next").is_none());
    // A customer finds only what it sees, described by the newest version it sees.
    let carols = get_as(&server, "carol", &customer, "/search.json?q=yaml").json();
    assert_eq!(carols["total"], 1, "{carols}");
    assert_eq!(carols["results"][0]["description"], "Parses YAML files");
    let hidden = get_as(&server, "carol", &customer, "/search.json?q=json");
    let nothing = get_as(&server, "carol", &customer, "/search.json?q=nosuchword");
    assert_eq!(hidden.body, nothing.body);
    // Pages, with the next one's address.
    let first = get_as(&server, "admin", &admin, "/search.json?q=a&per_page=2").json();
    assert_eq!(
        (
            first["total"].as_u64(),
            first["results"].as_array().unwrap().len()
        ),
        (Some(4), 2)
    );
    let next = first["next"].as_str().unwrap();
    assert!(next.starts_with(&server.url("/search.json?")), "{next}");
    let second = get(next, &[("Authorization", &basic("admin", &admin))]).json();
    assert_eq!(second["results"].as_array().unwrap().len(), 2);
    assert!(second.get("next").is_none());
    assert_ne!(first["results"][0]["name"], second["results"][0]["name"]);
    let long = "x ".repeat(11);
    assert_eq!(
        get_as(
            &server,
            "admin",
            &admin,
            &format!("/search.json?q={}", long.replace(' ', "+"))
        )
        .status,
        400
    );

    // The real client: full-text search, name search through the list, --available.
    let project = ComposerProject::new(&server, "admin", &admin);
    let search = project.run(&["search", "yaml"]);
    let text = output_text(&search);
    assert!(search.status.success(), "{text}");
    assert!(
        text.contains("acme/yaml") && text.contains("Parses YAML files, faster"),
        "{text}"
    );
    assert!(
        text.contains("other/yaml-tools") && !text.contains("acme/json"),
        "{text}"
    );
    let typed = project.run(&["search", "--type", "project", "company"]);
    assert!(
        output_text(&typed).contains("acme/site"),
        "{}",
        output_text(&typed)
    );
    // Composer 2.5 quotes name searches, so `^acme/` would be a literal: a plain word
    // is matched against available-packages.
    let by_name = project.run(&["search", "--only-name", "acme"]);
    let text = output_text(&by_name);
    assert!(
        text.contains("acme/json") && text.contains("acme/site"),
        "{text}"
    );
    assert!(!text.contains("other/yaml-tools"), "{text}");
    let vendors = project.run(&["search", "--only-vendor", "oth"]);
    assert!(
        output_text(&vendors).contains("other"),
        "{}",
        output_text(&vendors)
    );
    let available = project.run(&["show", "--available", "acme/*"]);
    let text = output_text(&available);
    assert!(available.status.success(), "{text}");
    assert!(
        text.contains("acme/yaml") && text.contains("acme/json"),
        "{text}"
    );
    let carols = ComposerProject::new(&server, "carol", &customer);
    let text = output_text(&carols.run(&["search", "parser"]));
    assert!(
        text.contains("acme/yaml") && !text.contains("acme/json"),
        "{text}"
    );
}

#[test]
fn install_statistics_count_what_each_caller_sees() {
    let (server, admin, customer) = catalogue_server();
    let auth = basic("admin", &admin);
    let batch = json!({"downloads": [
        {"name": "acme/yaml", "version": "1.0.0.0"},
        {"name": "acme/yaml", "version": "2.0.0.0"},
        {"name": "acme/yaml", "version": "2.0.0.0"},
        {"name": "acme/yaml", "version": "9.9.9.9"},
    ]});
    let posted = post(
        &server.url("/downloads/"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        batch.to_string().as_bytes(),
    );
    assert_eq!(posted.status, 200);

    let stats = get_as(&server, "admin", &admin, "/packages/acme/yaml/stats.json").json();
    // 2.0.0.0 twice in one batch is one install.
    assert_eq!(
        stats["downloads"],
        json!({"total": 2, "monthly": 2, "daily": 2}),
        "{stats}"
    );
    assert_eq!(stats["versions"], json!(["2.0.0", "1.0.0"]));
    assert_eq!(stats["average"], "daily");
    let today = stats["date"].as_str().unwrap().to_owned();
    // Carol sees 1.x only: its installs only, its version only.
    let carols = get_as(
        &server,
        "carol",
        &customer,
        "/packages/acme/yaml/stats.json",
    )
    .json();
    assert_eq!(
        carols["downloads"],
        json!({"total": 1, "monthly": 1, "daily": 1})
    );
    assert_eq!(carols["versions"], json!(["1.0.0"]));
    let hidden = get_as(
        &server,
        "carol",
        &customer,
        "/packages/acme/json/stats.json",
    );
    let unknown = get_as(
        &server,
        "carol",
        &customer,
        "/packages/acme/nope/stats.json",
    );
    assert_eq!((hidden.status, unknown.status), (404, 404));
    assert_eq!(
        hidden.text().replace("acme/json", "X"),
        unknown.text().replace("acme/nope", "X")
    );

    let series = get_as(
        &server,
        "admin",
        &admin,
        "/packages/acme/yaml/stats/all.json",
    )
    .json();
    assert_eq!(
        series,
        json!({"labels": [today], "values": [2], "average": "daily"})
    );
    let ranged = get_as(
        &server,
        "admin",
        &admin,
        &format!("/packages/acme/yaml/stats/all.json?from=2026-01-01&to={today}&average=monthly"),
    )
    .json();
    let labels = ranged["labels"].as_array().unwrap();
    assert_eq!(labels[0], "2026-01");
    assert_eq!(labels.last().unwrap().as_str(), Some(&today[..7]));
    assert_eq!(ranged["values"].as_array().unwrap().last().unwrap(), 1); // ceil(2 / 30.41)
    for bad in [
        "average=hourly",
        "from=yesterday",
        "from=1900-01-01&to=2026-01-01",
    ] {
        let reply = get_as(
            &server,
            "admin",
            &admin,
            &format!("/packages/acme/yaml/stats/all.json?{bad}"),
        );
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text());
    }
    // The search results carry the same counts.
    let found = get_as(&server, "carol", &customer, "/search.json?q=yaml").json();
    assert_eq!(found["results"][0]["downloads"], 1);

    let cli = server.cli_ok(&["package", "downloads", "acme/yaml"]);
    assert!(
        cli.contains("acme/yaml: 2 installs, 2 in the last 30 days, 2 today"),
        "{cli}"
    );
    assert!(
        cli.contains("2.0.0.0\t1") && cli.contains("1.0.0.0\t1"),
        "{cli}"
    );
}

#[test]
fn installs_through_a_mirror_are_counted_per_mirror() {
    testkit::needs!(Composer);
    let mut repo = UpstreamRepo::new();
    repo.package(
        "vendor/mirrored",
        "1.0.0",
        json!({"autoload": {"psr-4": {"Vendor\\Mirrored\\": "src"}}}),
        &[(
            "src/Mirrored.php",
            "<?php\nnamespace Vendor\\Mirrored;\n\nfinal class Mirrored {}\n",
        )],
    );
    let upstream = repo.serve();
    let dir = TempDir::new("listing-config");
    let config = json!({"mirrors": {"packagist": false, "up": {"url": upstream.url()}}});
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config.to_string()).unwrap();
    let server = Server::start_with(&[("PACKYARD_CONFIG", &path.display().to_string())]);
    let admin = server.add_user("admin", true);

    let mirror = server.url("/mirror/up");
    let project = ComposerProject::with_repository(&server, &mirror, "admin", &admin);
    project.require("vendor/mirrored");
    // Composer posted its notify-batch to the mirror; made-up versions and names the
    // mirror never served are not counted.
    let junk = json!({"downloads": [
        {"name": "vendor/mirrored", "version": "7.7.7.7"},
        {"name": "vendor/never-served", "version": "1.0.0.0"},
    ]});
    let reply = post(
        &format!("{mirror}/downloads/"),
        &[
            ("Authorization", &basic("admin", &admin)),
            ("Content-Type", "application/json"),
        ],
        junk.to_string().as_bytes(),
    );
    assert_eq!(reply.status, 200);
    let cli = server.cli_ok(&["package", "downloads", "vendor/mirrored"]);
    assert!(
        cli.contains(
            "vendor/mirrored through the up mirror: 1 installs, 1 in the last 30 days, 1 today"
        ),
        "{cli}"
    );
    assert!(
        cli.contains("1.0.0.0\t1") && !cli.contains("7.7.7.7"),
        "{cli}"
    );
    let never = server.cli(&["package", "downloads", "vendor/never-served"]);
    assert!(!never.status.success());
}
