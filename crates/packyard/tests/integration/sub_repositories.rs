//! Sub-repositories (`packyard subrepo`): a Composer repository at `/{slug}` with only
//! its packages, installed from by the real `composer`.

use serde_json::Value;

use crate::common::*;

/// Uploads version 1.0.0 of each `(name, marker)` as `admin`, the marker in its archive.
fn upload_all(server: &Server, admin: &str, packages: &[(&str, &str)]) {
    for &(name, marker) in packages {
        let created = upload(
            server,
            admin,
            name,
            "1.0.0",
            &package_zip(name, &[], marker),
        );
        assert_eq!(created.status, 201, "{}", created.text());
    }
}

/// Every URL in `value`, wherever it is (documents nest them in objects and lists).
fn urls(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::String(text) if text.starts_with("http://") || text.starts_with("https://") => {
            found.push(text.clone());
        }
        Value::Array(items) => items.iter().for_each(|item| urls(item, found)),
        Value::Object(fields) => fields.values().for_each(|field| urls(field, found)),
        _ => {}
    }
}

#[test]
fn a_sub_repository_serves_its_packages_only_with_every_url_under_its_slug() {
    testkit::needs!(Composer);
    let server = Server::start();
    let admin = server.add_user("admin", true);
    let reader = server.add_user("reader", false);
    server.cli_ok(&["group", "add", "everything"]);
    server.cli_ok(&["group", "grant", "everything", "*/*"]);
    server.cli_ok(&["group", "members", "everything", "--add", "reader"]);
    upload_all(
        &server,
        &admin,
        &[
            ("client/lib", "client"),
            ("other/lib", "other"),
            ("tools/cli", "tools"),
        ],
    );
    let added = server.cli_ok(&[
        "subrepo",
        "add",
        "client-a",
        "--name",
        "Client A",
        "--packages",
        "client/lib,tools/*",
    ]);
    assert!(added.contains("/client-a/packages.json"), "{added}");
    // A slug that is one of our own paths, or not a slug at all, is refused by name.
    let taken = server.cli(&["subrepo", "add", "p2", "--name", "P2"]);
    assert!(!taken.status.success());
    assert!(
        output_text(&taken).contains("a path packyard serves itself"),
        "{}",
        output_text(&taken)
    );
    let odd = server.cli(&["subrepo", "add", "Client_B", "--name", "B"]);
    assert!(
        output_text(&odd).contains("invalid slug \"Client_B\""),
        "{}",
        output_text(&odd)
    );
    // Changes reach the server with the access rules (within 2 s).
    let base = server.url("/client-a");
    let auth = basic("admin", &admin);
    let root = wait_for_status(&server, "admin", &admin, "/client-a/packages.json", 200);
    let root: Value = root.json();
    assert_eq!(
        root["available-packages"],
        serde_json::json!(["client/lib", "tools/cli"]),
        "an admin sees the whole sub-repository and nothing outside it: {root}"
    );

    // Every URL the documents give stays under the slug.
    let mut found = Vec::new();
    urls(&root, &mut found);
    let p2 = get(
        &format!("{base}/p2/client/lib.json"),
        &[("Authorization", &auth)],
    );
    assert_eq!(p2.status, 200, "{}", p2.text());
    urls(&p2.json(), &mut found);
    for url in ["metadata-url", "notify-batch", "search", "list"] {
        let value = root[url].as_str().unwrap().replace("%package%", "x/y");
        found.push(format!(
            "{}{}",
            if value.starts_with('/') {
                server.url("")
            } else {
                String::new()
            },
            value
        ));
    }
    // The other documents under the slug: Composer 1's, the lists and search.
    let web_pages = server.url("/packages/");
    for path in [
        "/p/client/lib.json",
        "/list.json",
        "/packages/list.json",
        "/search.json?q=l&per_page=1",
    ] {
        let document = get(&format!("{base}{path}"), &[("Authorization", &auth)]);
        assert_eq!(document.status, 200, "{path}: {}", document.text());
        let mut in_document = Vec::new();
        urls(&document.json(), &mut in_document);
        // Search results link each package's web page, which the web UI at the root
        // shows as the sub-repository does (README, Decisions); nothing else leaves.
        found.extend(in_document.into_iter().filter(|url| {
            !(path.starts_with("/search.json")
                && url.starts_with(&web_pages)
                && url.ends_with("?subrepo=client-a"))
        }));
    }
    assert!(found.len() >= 8, "{found:?}");
    for url in &found {
        assert!(
            url.starts_with(&format!("{base}/")),
            "{url} is outside {base}"
        );
    }
    // Search results link each package's web page as the sub-repository shows it.
    let search: Value = get(
        &format!("{base}/search.json?q=lib"),
        &[("Authorization", &auth)],
    )
    .json();
    assert_eq!(
        search["results"][0]["url"],
        server.url("/packages/client/lib?subrepo=client-a"),
        "{search}"
    );
    // Outside the sub-repository, a package is unknown: the very bytes of a name that
    // does not exist at all.
    let outside = get(
        &format!("{base}/p2/other/lib.json"),
        &[("Authorization", &auth)],
    );
    let nowhere = get(
        &format!("{base}/p2/nobo/dyno.json"),
        &[("Authorization", &auth)],
    );
    assert_eq!(outside.status, 404);
    assert_same_answer(&outside, "other/lib", &nowhere, "nobo/dyno");
    let list = get(&format!("{base}/list.json"), &[("Authorization", &auth)]);
    assert_eq!(
        list.json()["packageNames"],
        serde_json::json!(["client/lib", "tools/cli"])
    );
    // An unknown slug is a 404 too; the root still sees everything.
    assert_eq!(
        get(
            &server.url("/client-z/packages.json"),
            &[("Authorization", &auth)]
        )
        .status,
        404
    );
    let whole: Value = get(&server.url("/packages.json"), &[("Authorization", &auth)]).json();
    assert_eq!(whole["available-packages"].as_array().unwrap().len(), 3);

    // The real composer, configured with the sub-repository's URL only.
    let project = ComposerProject::with_repository(&server, &base, "reader", &reader);
    project.require("client/lib");
    assert!(
        project
            .installed_file("client/lib/src/Lib.php")
            .unwrap()
            .contains("client")
    );
    let lock = project.lock();
    let dist = lock["packages"][0]["dist"]["url"].as_str().unwrap();
    assert!(dist.starts_with(&format!("{base}/zipball/")), "{dist}");
    let refused = project.run(&["require", "other/lib", "--no-audit"]);
    assert!(!refused.status.success());
    let unknown = "Could not find a matching version of package other/lib";
    assert!(
        output_text(&refused).contains(unknown),
        "Composer's own message: {}",
        output_text(&refused)
    );
    // As admin too: the sub-repository holds what it holds.
    let as_admin = ComposerProject::with_repository(&server, &base, "admin", &admin);
    let refused = as_admin.run(&["require", "other/lib", "--no-audit"]);
    assert!(!refused.status.success(), "{}", output_text(&refused));
    assert!(output_text(&refused).contains(unknown));

    // Removing a package from it, and then the sub-repository itself.
    server.cli_ok(&["subrepo", "set", "client-a", "--remove-packages", "tools/*"]);
    wait_for_status(&server, "admin", &admin, "/client-a/p2/tools/cli.json", 404);
    let listed = server.cli_ok(&["subrepo", "list"]);
    assert!(
        listed.contains("client-a\tClient A\tclient/lib"),
        "{listed}"
    );
    server.cli_ok(&["subrepo", "remove", "client-a"]);
    wait_for_status(&server, "admin", &admin, "/client-a/packages.json", 404);

    // The same through the API (admins): created, in effect at once, changed, removed.
    let api = |path: &str| server.url(&format!("/api{path}"));
    let json_headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let body = serde_json::json!({"slug": "client-b", "name": "Client B", "packages": ["tools/*"]});
    let created = post(
        &api("/subrepos"),
        &json_headers,
        body.to_string().as_bytes(),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["packages"], serde_json::json!(["tools/*"]));
    let in_effect: Value = get(
        &server.url("/client-b/packages.json"),
        &[("Authorization", &auth)],
    )
    .json();
    assert_eq!(
        in_effect["available-packages"],
        serde_json::json!(["tools/cli"])
    );
    let taken = post(
        &api("/subrepos"),
        &json_headers,
        body.to_string().as_bytes(),
    );
    assert_eq!(taken.status, 409, "{}", taken.text());
    let reserved = serde_json::json!({"slug": "api", "name": "API"});
    let refused = post(
        &api("/subrepos"),
        &json_headers,
        reserved.to_string().as_bytes(),
    );
    assert_eq!(refused.status, 400);
    assert!(
        refused.text().contains("a path packyard serves itself"),
        "{}",
        refused.text()
    );
    let change = serde_json::json!({"addPackages": ["client/lib"], "public": true});
    let changed = put(
        &api("/subrepo/client-b"),
        &json_headers,
        change.to_string().as_bytes(),
    );
    assert_eq!(changed.status, 200, "{}", changed.text());
    assert_eq!(
        changed.json()["packages"],
        serde_json::json!(["client/lib", "tools/*"])
    );
    assert_eq!(changed.json()["public"], true);
    let listed = get(&api("/subrepos"), &[("Authorization", &auth)]).json();
    assert_eq!(listed[0]["slug"], "client-b", "{listed}");
    let renamed = serde_json::json!({"slug": "client-c"});
    let renamed = put(
        &api("/subrepo/client-b"),
        &json_headers,
        renamed.to_string().as_bytes(),
    );
    assert_eq!(renamed.status, 400, "{}", renamed.text());
    // Not for a reader, and nothing read before its credentials are checked.
    let as_reader = basic("reader", &reader);
    let forbidden = post(
        &api("/subrepos"),
        &[
            ("Authorization", &as_reader),
            ("Content-Type", "application/json"),
        ],
        b"{not json",
    );
    assert_eq!(forbidden.status, 403, "{}", forbidden.text());
    let one = get(&api("/subrepo/client-b"), &[("Authorization", &auth)]);
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(
        (
            &one.json()["slug"],
            &one.json()["name"],
            &one.json()["public"]
        ),
        (
            &serde_json::json!("client-b"),
            &serde_json::json!("Client B"),
            &serde_json::json!(true)
        )
    );
    assert_eq!(
        delete(&api("/subrepo/client-b"), &[("Authorization", &auth)]).status,
        204
    );
    assert_eq!(
        get(&api("/subrepo/client-b"), &[("Authorization", &auth)]).status,
        404
    );
    assert_eq!(
        get(
            &server.url("/client-b/packages.json"),
            &[("Authorization", &auth)]
        )
        .status,
        404
    );
}

/// GETs `url` (with `auth`, if any) until it answers `status`, for up to 8 s: a change
/// made with the CLI reaches the server with the access rules.
fn wait_for(url: &str, auth: Option<&str>, status: u16) -> Reply {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(8);
    loop {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        let reply = get(url, &headers);
        if reply.status == status {
            return reply;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{url}: {} {}",
            reply.status,
            reply.text()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_host_name_serves_its_sub_repository_at_the_root_and_a_public_one_serves_anyone() {
    testkit::needs!(Composer);
    let server = Server::start();
    let admin = server.add_user("admin", true);
    let reader = server.add_user("reader", false);
    server.cli_ok(&["group", "add", "everything"]);
    server.cli_ok(&["group", "grant", "everything", "*/*"]);
    server.cli_ok(&["group", "members", "everything", "--add", "reader"]);
    upload_all(
        &server,
        &admin,
        &[
            ("client/lib", "client"),
            ("open/lib", "open"),
            ("other/lib", "other"),
        ],
    );
    // `localhost` is this machine under another name: requests naming it are the
    // sub-repository's, requests to 127.0.0.1 the root's.
    server.cli_ok(&[
        "subrepo",
        "add",
        "client-a",
        "--name",
        "Client A",
        "--packages",
        "client/lib",
        "--host",
        "localhost",
    ]);
    server.cli_ok(&[
        "subrepo",
        "add",
        "open",
        "--name",
        "Open",
        "--packages",
        "open/lib",
        "--public",
    ]);
    let listed = server.cli_ok(&["subrepo", "list"]);
    assert!(
        listed.contains("client-a\tClient A\tclient/lib\tlocalhost\tprivate"),
        "{listed}"
    );
    assert!(
        listed.contains("open\tOpen\topen/lib\tno host names\tpublic"),
        "{listed}"
    );

    let port = server.host().rsplit_once(':').unwrap().1.to_owned();
    let by_host = format!("http://localhost:{port}");
    let auth = basic("admin", &admin);
    // Until the server has the new rules, localhost is the root like any other name.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(8);
    let root = loop {
        let root: Value = get(
            &format!("{by_host}/packages.json"),
            &[("Authorization", &auth)],
        )
        .json();
        if root["available-packages"] == serde_json::json!(["client/lib"]) {
            break root;
        }
        assert!(std::time::Instant::now() < deadline, "{root}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(root["metadata-url"], format!("{by_host}/p2/%package%.json"));
    let whole: Value = get(&server.url("/packages.json"), &[("Authorization", &auth)]).json();
    assert_eq!(whole["available-packages"].as_array().unwrap().len(), 3);
    assert_eq!(
        get(
            &format!("{by_host}/p2/other/lib.json"),
            &[("Authorization", &auth)]
        )
        .status,
        404
    );

    // A user limited away from the host's sub-repository is answered there as at any
    // host name that is no sub-repository's: by the root, so it cannot tell which
    // names are registered.
    let rooted = server.add_plain_user("rooted", &[]);
    server.cli_ok(&["group", "members", "everything", "--add", "rooted"]);
    server.cli_ok(&["user", "set", "rooted", "--subrepos", "root"]);
    let rooted_auth = basic("rooted", &rooted);
    // (Its limit was set last: once the server has it, the membership is there too.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(8);
    let at_root = loop {
        let as_root = get(
            &format!("{by_host}/p2/open/lib.json"),
            &[("Authorization", &rooted_auth)],
        );
        if as_root.status == 200 {
            break get(
                &server.url("/packages.json"),
                &[("Authorization", &rooted_auth)],
            )
            .json();
        }
        assert!(std::time::Instant::now() < deadline, "{}", as_root.text());
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(at_root["available-packages"].as_array().unwrap().len(), 3);
    let by_name: Value = get(
        &format!("{by_host}/packages.json"),
        &[("Authorization", &rooted_auth)],
    )
    .json();
    assert_eq!(by_name["available-packages"], at_root["available-packages"]);

    let project =
        ComposerProject::for_host(&format!("localhost:{port}"), &[&by_host], "reader", &reader);
    project.require("client/lib");
    assert!(
        project
            .installed_file("client/lib/src/Lib.php")
            .unwrap()
            .contains("client")
    );
    let dist = project.lock()["packages"][0]["dist"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        dist.starts_with(&format!("{by_host}/zipball/client/lib/")),
        "{dist}"
    );

    // The public sub-repository answers anyone; its neighbour and the root do not.
    let open = wait_for(&server.url("/open/packages.json"), None, 200).json();
    assert_eq!(open["available-packages"], serde_json::json!(["open/lib"]));
    assert_eq!(get(&server.url("/client-a/packages.json"), &[]).status, 401);
    assert_eq!(get(&server.url("/packages.json"), &[]).status, 401);
    assert_eq!(get(&server.url("/nowhere/packages.json"), &[]).status, 401);
    let anonymous = ComposerProject::for_host("nobody.invalid", &[&server.url("/open")], "x", "y");
    anonymous.require("open/lib");
    assert!(anonymous.installed_file("open/lib/src/Lib.php").is_some());
    let anonymous =
        ComposerProject::for_host("nobody.invalid", &[&server.url("/client-a")], "x", "y");
    let refused = anonymous.run(&["require", "client/lib", "--no-audit"]);
    assert!(!refused.status.success(), "{}", output_text(&refused));
    assert!(
        output_text(&refused).contains("401"),
        "Composer says it was refused: {}",
        output_text(&refused)
    );

    // Private again: anonymous clients are asked for credentials there too.
    server.cli_ok(&["subrepo", "set", "open", "--private"]);
    wait_for(&server.url("/open/packages.json"), None, 401);
}

#[test]
fn a_user_limited_to_a_sub_repository_finds_nothing_elsewhere_and_a_limited_groups_grants_count_only_there()
 {
    testkit::needs!(Composer);
    let server = Server::start();
    let admin = server.add_user("admin", true);
    let limited = server.add_plain_user("limited", &[]);
    let member = server.add_plain_user("member", &[]);
    server.cli_ok(&["group", "add", "everything"]);
    server.cli_ok(&["group", "grant", "everything", "client/*"]);
    server.cli_ok(&[
        "group",
        "members",
        "everything",
        "--add",
        "limited",
        "--add",
        "member",
    ]);
    upload_all(
        &server,
        &admin,
        &[("client/lib", "client"), ("other/lib", "other")],
    );
    for (slug, packages) in [
        ("client-a", "client/*,other/*"),
        ("client-b", "client/*,other/*"),
    ] {
        server.cli_ok(&[
            "subrepo",
            "add",
            slug,
            "--name",
            slug,
            "--packages",
            packages,
        ]);
    }
    // Limits name sub-repositories that exist, and never an admin.
    let unknown = server.cli(&["user", "set", "limited", "--subrepos", "client-z"]);
    assert!(
        output_text(&unknown).contains("no sub-repository is named \"client-z\""),
        "{}",
        output_text(&unknown)
    );
    let on_admin = server.cli(&["user", "set", "admin", "--subrepos", "client-a"]);
    assert!(
        output_text(&on_admin)
            .contains("admins and maintainers are not limited to sub-repositories"),
        "{}",
        output_text(&on_admin)
    );
    let set = server.cli_ok(&["user", "set", "limited", "--subrepos", "client-a"]);
    assert!(set.contains("sub-repositories: client-a"), "{set}");
    let auth = basic("limited", &limited);
    wait_for(&server.url("/p2/client/lib.json"), Some(&auth), 404);

    // At the root and at another sub-repository the user's token finds nothing: the
    // very bytes of a package, or a sub-repository, that does not exist.
    let member_auth = basic("member", &member);
    let at_root = get(
        &server.url("/p2/client/lib.json"),
        &[("Authorization", &auth)],
    );
    let nowhere = get(
        &server.url("/p2/nobody/lib.json"),
        &[("Authorization", &member_auth)],
    );
    assert_eq!((at_root.status, nowhere.status), (404, 404));
    assert_same_answer(&at_root, "client/lib", &nowhere, "nobody/lib");
    let root: Value = get(&server.url("/packages.json"), &[("Authorization", &auth)]).json();
    assert_eq!(root["available-packages"], serde_json::json!([]), "{root}");
    let other = get(
        &server.url("/client-b/packages.json"),
        &[("Authorization", &auth)],
    );
    let no_such = get(
        &server.url("/client-z/packages.json"),
        &[("Authorization", &auth)],
    );
    assert_eq!((other.status, no_such.status), (404, 404));
    assert_same_answer(&other, "client-b", &no_such, "client-z");
    // Through its own sub-repository it installs what its groups grant.
    let project =
        ComposerProject::with_repository(&server, &server.url("/client-a"), "limited", &limited);
    project.require("client/lib");
    assert!(project.installed_file("client/lib/src/Lib.php").is_some());
    let at_root = ComposerProject::with_repository(&server, &server.url(""), "limited", &limited);
    let refused = at_root.run(&["require", "client/lib", "--no-audit"]);
    assert!(!refused.status.success());
    assert!(
        output_text(&refused).contains("Could not find a matching version of package client/lib"),
        "Composer's own message: {}",
        output_text(&refused)
    );

    // A group limited to client-b: its grant counts there, not at the root nor in
    // client-a.
    // (The member joins last: once its grant shows, the limit has arrived too.)
    server.cli_ok(&["group", "add", "b-only"]);
    server.cli_ok(&["group", "set", "b-only", "--subrepos", "client-b"]);
    server.cli_ok(&["group", "grant", "b-only", "other/lib"]);
    server.cli_ok(&["group", "members", "b-only", "--add", "member"]);
    let listed = server.cli_ok(&["group", "list"]);
    assert!(listed.contains("sub-repositories: client-b"), "{listed}");
    wait_for(
        &server.url("/client-b/p2/other/lib.json"),
        Some(&member_auth),
        200,
    );
    for path in ["/p2/other/lib.json", "/client-a/p2/other/lib.json"] {
        assert_eq!(
            get(&server.url(path), &[("Authorization", &member_auth)]).status,
            404,
            "{path}"
        );
    }

    // Removing client-a takes it out of the limit (a sub-repository made later under
    // the same slug does not open to the user); `all` lifts the limit.
    server.cli_ok(&["subrepo", "remove", "client-a"]);
    let users = server.cli_ok(&["user", "list"]);
    assert!(
        users.contains("user limited\t") && users.contains("sub-repositories: none"),
        "{users}"
    );
    server.cli_ok(&["user", "set", "limited", "--subrepos", "all"]);
    wait_for(&server.url("/p2/client/lib.json"), Some(&auth), 200);

    // The same limits through the API's `subRepos`, on a user and on a group.
    let admin_auth = basic("admin", &admin);
    server.add_maintainer("keeper");
    let users = get(&server.url("/api/users"), &[("Authorization", &admin_auth)]).json();
    let id_of = |name: &str| {
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|user| user["username"] == name)
            .unwrap_or_else(|| panic!("{name} in {users}"))["id"]
            .as_i64()
            .unwrap()
    };
    let change = |path: String, body: Value| {
        put(
            &server.url(&path),
            &[
                ("Authorization", admin_auth.as_str()),
                ("Content-Type", "application/json"),
            ],
            body.to_string().as_bytes(),
        )
    };
    let limited_path = format!("/api/user/{}", id_of("limited"));
    let limited_by_api = change(
        limited_path.clone(),
        serde_json::json!({"subRepos": ["client-b"]}),
    );
    assert_eq!(limited_by_api.status, 200, "{}", limited_by_api.text());
    assert_eq!(
        limited_by_api.json()["subRepos"],
        serde_json::json!(["client-b"])
    );
    wait_for(&server.url("/p2/client/lib.json"), Some(&auth), 404);
    wait_for(
        &server.url("/client-b/p2/client/lib.json"),
        Some(&auth),
        200,
    );
    let unlimited = change(limited_path, serde_json::json!({"subRepos": null}));
    assert_eq!(unlimited.json()["subRepos"], Value::Null);
    wait_for(&server.url("/p2/client/lib.json"), Some(&auth), 200);
    // A maintainer (admins are changed only with the CLI).
    let on_maintainer = change(
        format!("/api/user/{}", id_of("keeper")),
        serde_json::json!({"subRepos": ["client-b"]}),
    );
    assert_eq!(on_maintainer.status, 400, "{}", on_maintainer.text());
    assert!(
        on_maintainer
            .text()
            .contains("admins and maintainers are not limited to sub-repositories"),
        "{}",
        on_maintainer.text()
    );
    let groups = get(
        &server.url("/api/groups"),
        &[("Authorization", &admin_auth)],
    )
    .json();
    let b_only = groups
        .as_array()
        .unwrap()
        .iter()
        .find(|group| group["name"] == "b-only")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let rooted = change(
        format!("/api/group/{b_only}"),
        serde_json::json!({"subRepos": ["root"]}),
    );
    assert_eq!(rooted.json()["subRepos"], serde_json::json!(["root"]));
    wait_for(&server.url("/p2/other/lib.json"), Some(&member_auth), 200);
    wait_for(
        &server.url("/client-b/p2/other/lib.json"),
        Some(&member_auth),
        404,
    );
}

/// A config file defining the `up` mirror of `upstream`, included in the root
/// repository too, instead of the default packagist one.
fn mirror_config(dir: &TempDir, upstream: &testkit::upstream::UpstreamServer) -> String {
    let yaml = serde_json::json!({"mirrors": {
        "packagist": false,
        "up": {"url": upstream.url(), "include_in_root": true},
    }});
    let path = dir.path().join("config.yaml");
    // JSON is YAML.
    std::fs::write(&path, yaml.to_string()).unwrap();
    path.display().to_string()
}

#[test]
fn one_url_serves_private_and_mirrored_packages_and_never_asks_upstream_for_a_private_name() {
    testkit::needs!(Composer);
    let mut repo = testkit::upstream::UpstreamRepo::new();
    repo.minified().monolog();
    // Impostors of private names, which must never be fetched.
    for name in ["acme/lib", "hidden/tool"] {
        repo.package(
            name,
            "9.9.9",
            serde_json::json!({}),
            &[("evil.php", "<?php // impostor\n")],
        );
    }
    let upstream = repo.serve();
    let dir = TempDir::new("subrepo-mirror-config");
    let server = Server::start_with(&[("PACKYARD_CONFIG", &mirror_config(&dir, &upstream))]);
    let admin = server.add_user("admin", true);
    let customer = server.add_plain_user("customer", &[]);
    let no_mirror = server.add_plain_user("no-mirror", &[]);
    upload_all(
        &server,
        &admin,
        &[("acme/lib", "private acme"), ("hidden/tool", "hidden")],
    );
    server.cli_ok(&["group", "add", "customers"]);
    server.cli_ok(&["group", "grant", "customers", "acme/*"]);
    server.cli_ok(&["group", "set", "customers", "--mirrors", "up"]);
    server.cli_ok(&["group", "add", "private-only"]);
    server.cli_ok(&["group", "grant", "private-only", "acme/*"]);
    server.cli_ok(&["group", "members", "private-only", "--add", "no-mirror"]);
    let unknown = server.cli(&["subrepo", "add", "x", "--name", "X", "--mirrors", "nope"]);
    assert!(
        output_text(&unknown).contains("no mirror is named \"nope\": they are up"),
        "{}",
        output_text(&unknown)
    );
    let added = server.cli_ok(&[
        "subrepo",
        "add",
        "client-a",
        "--name",
        "Client A",
        "--packages",
        "acme/*",
        "--mirrors",
        "up",
    ]);
    assert!(added.contains("/client-a/"), "{added}");
    assert!(
        server
            .cli_ok(&["subrepo", "list"])
            .contains("\tprivate\tup")
    );
    // The customer joins last: once it sees its package, the rest has arrived too.
    server.cli_ok(&["group", "members", "customers", "--add", "customer"]);
    let base = server.url("/client-a");
    let auth = basic("customer", &customer);
    wait_for(&format!("{base}/p2/acme/lib.json"), Some(&auth), 200);

    // Its root lists no names (Composer would ask for nothing else) and keeps every
    // URL under the slug.
    let root: Value = get(
        &format!("{base}/packages.json"),
        &[("Authorization", &auth)],
    )
    .json();
    assert!(root.get("available-packages").is_none(), "{root}");
    let mut found = Vec::new();
    urls(&root, &mut found);
    for key in ["metadata-url", "notify-batch", "search", "list"] {
        found.push(
            server.url("")
                + root[key]
                    .as_str()
                    .unwrap()
                    .trim_start_matches(&server.url("")),
        );
    }
    assert!(found.len() >= 6, "{found:?}");
    for url in &found {
        assert!(
            url.starts_with(&format!("{base}/")),
            "{url} is outside {base}"
        );
    }

    // One repository URL: the private package and the mirrored one with its
    // dependency, each archive found at the first URL Composer tries.
    let project = ComposerProject::with_repository(&server, &base, "customer", &customer);
    let installed = project.run(&["require", "acme/lib", "monolog/monolog", "--no-audit"]);
    assert!(installed.status.success(), "{}", output_text(&installed));
    assert!(
        !output_text(&installed).contains("Failed downloading"),
        "{}",
        output_text(&installed)
    );
    assert!(
        project
            .installed_file("acme/lib/src/Lib.php")
            .unwrap()
            .contains("private acme")
    );
    assert!(project.installed_file("acme/lib/evil.php").is_none());
    for file in [
        "monolog/monolog/src/Logger.php",
        "psr/log/src/LoggerInterface.php",
    ] {
        assert!(project.installed_file(file).is_some(), "{file}");
    }
    // Every archive, private or mirrored, is at the sub-repository's own URL.
    let dists = |project: &ComposerProject| -> Vec<(String, String)> {
        project.lock()["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|package| {
                (
                    package["name"].as_str().unwrap().to_owned(),
                    package["dist"]["url"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let locked = dists(&project);
    assert_eq!(locked.len(), 3, "{locked:?}");
    for (name, url) in &locked {
        assert!(
            url.starts_with(&format!("{base}/zipball/{name}/")),
            "{name}: {url}"
        );
    }
    // The archives came through packyard, which fetched each once, for all: no
    // request upstream came from Composer itself.
    assert_eq!(
        upstream.count(&testkit::upstream::dist_path("monolog/monolog", "3.5.0")),
        1
    );
    let log = upstream.request_log();
    assert!(
        log.iter().all(|r| r.header("user-agent").is_some()),
        "{log:?}"
    );
    for request in log {
        let agent = request.header("user-agent").unwrap_or_default();
        assert!(
            !agent.starts_with("Composer"),
            "{} came from Composer: {agent}",
            request.path
        );
    }
    // Private names, seen by the caller or not, in the sub-repository or not, were
    // never asked of the upstream.
    let hidden = get(
        &format!("{base}/p2/hidden/tool.json"),
        &[("Authorization", &auth)],
    );
    assert_eq!(hidden.status, 404);
    let at_root = get(
        &server.url("/p2/hidden/tool.json"),
        &[("Authorization", &auth)],
    );
    assert_eq!(at_root.status, 404);
    for path in [
        "/p2/acme/lib.json",
        "/p2/acme/lib~dev.json",
        "/p2/hidden/tool.json",
        "/p2/hidden/tool~dev.json",
    ] {
        assert_eq!(upstream.count(path), 0, "{path} was asked upstream");
    }
    // The mirror's own rules still apply: without it in a group, only private
    // packages come through.
    let private_only = basic("no-mirror", &no_mirror);
    let refused = get(
        &format!("{base}/p2/monolog/monolog.json"),
        &[("Authorization", &private_only)],
    );
    let nowhere = get(
        &format!("{base}/p2/nobodyx/nothing.json"),
        &[("Authorization", &private_only)],
    );
    assert_eq!((refused.status, nowhere.status), (404, 404));
    assert_same_answer(&refused, "monolog/monolog", &nowhere, "nobodyx/nothing");
    let private_root: Value = get(
        &format!("{base}/packages.json"),
        &[("Authorization", &private_only)],
    )
    .json();
    assert_eq!(
        private_root["available-packages"],
        serde_json::json!(["acme/lib"]),
        "{private_root}"
    );

    // The root includes the mirror by setting (`include_in_root`): one URL there too.
    let at_root = ComposerProject::with_repository(&server, &server.url(""), "customer", &customer);
    let installed = at_root.run(&["require", "acme/lib", "psr/log", "--no-audit"]);
    assert!(installed.status.success(), "{}", output_text(&installed));
    assert!(
        at_root
            .installed_file("acme/lib/src/Lib.php")
            .unwrap()
            .contains("private acme")
    );
    assert!(
        at_root
            .installed_file("psr/log/src/LoggerInterface.php")
            .is_some()
    );
    for (name, url) in dists(&at_root) {
        assert!(
            url.starts_with(&server.url(&format!("/zipball/{name}/"))),
            "{name}: {url}"
        );
    }
    assert_eq!(upstream.count("/p2/acme/lib.json"), 0);
}

#[tokio::test]
async fn a_host_names_urls_keep_the_public_urls_scheme_and_port_whatever_the_client_wrote() {
    use axum::body::Body;
    use axum::http::{Request, header};
    use packyard::access::Actor;
    use packyard::db::{Role, SubRepositoryFields};
    let app = crate::common::in_process::InProcess::open(
        "subrepo-hosts",
        &serde_json::json!({}),
        &[("PACKYARD_PUBLIC_URL", "https://repo.test:8443")],
    )
    .await;
    let token = app.add_user("admin", Role::Admin, false).await;
    let admin = app.app.access_admin();
    let fields = |hosts: &[&str]| SubRepositoryFields {
        name: "Client A".into(),
        hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        ..SubRepositoryFields::default()
    };
    admin
        .add_sub_repository(Actor::Operator, "client-a", fields(&["client-a.test"]))
        .await
        .unwrap();
    for host in ["client-a.test", "Client-A.test:9999", "client-a.test:1"] {
        let request = Request::get("/packages.json")
            .header(header::HOST, host)
            .header(header::AUTHORIZATION, basic("admin", &token))
            .body(Body::empty())
            .unwrap();
        let reply = app.call(request).await;
        assert_eq!(reply.status, 200, "{host}: {}", reply.text());
        assert_eq!(
            reply.json()["metadata-url"],
            "https://client-a.test:8443/p2/%package%.json",
            "{host}"
        );
    }
    // The root's own name, and an address, cannot be a sub-repository's.
    for root in ["repo.test", "127.0.0.1"] {
        let refused = admin
            .add_sub_repository(Actor::Operator, "client-b", fields(&[root]))
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("the root repository's"),
            "{root}: {refused}"
        );
    }
}

/// `refused` and `unknown` are the same answer to the client: status, headers (but the
/// date and the request's own id) and body, once each name is replaced by `NAME`. (The
/// names are as long as each other, so that even `Content-Length` must agree.)
fn assert_same_answer(refused: &Reply, refused_name: &str, unknown: &Reply, unknown_name: &str) {
    assert_eq!(refused_name.len(), unknown_name.len());
    let headers = |reply: &Reply| {
        let mut headers: Vec<(String, String)> = reply
            .headers
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or("?").to_owned()))
            .collect();
        headers.sort();
        headers
    };
    assert_eq!(refused.status, unknown.status);
    assert_eq!(headers(refused), headers(unknown));
    assert_eq!(
        refused.text().replace(refused_name, "NAME"),
        unknown.text().replace(unknown_name, "NAME")
    );
}

#[test]
fn through_a_sub_repository_constraints_freezes_public_packages_advisories_and_installs_apply() {
    testkit::needs!(Composer);
    let server = Server::start();
    let admin = server.add_user("admin", true);
    upload_all(
        &server,
        &admin,
        &[("client/lib", "1.0.0"), ("open/lib", "open")],
    );
    server.cli_ok(&["package", "set", "open/lib", "--public"]);
    // The freeze date falls between 1.0.0 and the later releases.
    let freeze = wait_past_a_second();
    for version in ["1.1.0", "2.0.0"] {
        let created = upload(
            &server,
            &admin,
            "client/lib",
            version,
            &package_zip("client/lib", &[], version),
        );
        assert_eq!(created.status, 201, "{}", created.text());
    }
    server.cli_ok(&[
        "subrepo",
        "add",
        "client-a",
        "--name",
        "Client A",
        "--packages",
        "client/*",
    ]);
    // carol may have 1.x; dave everything, frozen at the date between the releases.
    let carol = server.add_plain_user("carol", &[]);
    let dave = server.add_plain_user("dave", &[]);
    server.cli_ok(&["group", "add", "licensed"]);
    server.cli_ok(&[
        "group",
        "grant",
        "licensed",
        "client/*",
        "--versions",
        "^1.0",
    ]);
    server.cli_ok(&["group", "add", "frozen"]);
    server.cli_ok(&["group", "grant", "frozen", "client/*"]);
    server.cli_ok(&[
        "group",
        "set",
        "frozen",
        "--updates-until",
        &rfc3339(freeze),
    ]);
    server.cli_ok(&["group", "members", "licensed", "--add", "carol"]);
    server.cli_ok(&["group", "members", "frozen", "--add", "dave"]);
    let base = server.url("/client-a");
    let carol_auth = basic("carol", &carol);
    let dave_auth = basic("dave", &dave);
    wait_for(&format!("{base}/p2/client/lib.json"), Some(&dave_auth), 200);
    wait_for(
        &format!("{base}/p2/client/lib.json"),
        Some(&carol_auth),
        200,
    );
    let through = |user: &str, token: &str| {
        p2_version_names(
            &get(
                &format!("{base}/p2/client/lib.json"),
                &[("Authorization", &basic(user, token))],
            ),
            "client/lib",
        )
    };
    assert_eq!(through("carol", &carol), ["1.1.0", "1.0.0"], "a constraint");
    assert_eq!(through("dave", &dave), ["1.0.0"], "a freeze");
    assert_eq!(through("admin", &admin), ["2.0.0", "1.1.0", "1.0.0"]);

    // A public package outside the sub-repository: readable at the root, and through
    // the sub-repository the very answer of a name that does not exist.
    assert_eq!(
        get(
            &server.url("/p2/open/lib.json"),
            &[("Authorization", &carol_auth)]
        )
        .status,
        200
    );
    for auth in [&carol_auth, &basic("admin", &admin)] {
        let outside = get(
            &format!("{base}/p2/open/lib.json"),
            &[("Authorization", auth)],
        );
        let nowhere = get(
            &format!("{base}/p2/none/lib.json"),
            &[("Authorization", auth)],
        );
        assert_eq!(outside.status, 404);
        assert_same_answer(&outside, "open/lib", &nowhere, "none/lib");
    }

    // Advisories under the slug answer for the sub-repository's packages only.
    for (package, title) in [
        ("client/lib", "Client lib leaks"),
        ("open/lib", "Open lib leaks"),
    ] {
        server.cli_ok(&[
            "advisory",
            "add",
            package,
            "--affected",
            "<1.1.0",
            "--title",
            title,
        ]);
    }
    let asked = post(
        &format!("{base}/api/security-advisories/"),
        &[
            ("Authorization", &carol_auth),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        b"packages%5B0%5D=client%2Flib&packages%5B1%5D=open%2Flib",
    );
    assert_eq!(asked.status, 200, "{}", asked.text());
    let advisories = asked.json()["advisories"].clone();
    assert_eq!(advisories["client/lib"][0]["title"], "Client lib leaks");
    assert!(advisories.get("open/lib").is_none(), "{advisories}");

    // The real composer, through the sub-repository: carol installs 1.0.0, its audit
    // (asked at the sub-repository's api-url) reports it, and the install is counted.
    let project = ComposerProject::with_repository(&server, &base, "carol", &carol);
    project.require("client/lib:1.0.0");
    let audit = project.run(&["audit", "--format=json"]);
    assert!(!audit.status.success(), "{}", output_text(&audit));
    let report: Value =
        serde_json::from_slice(&audit.stdout).unwrap_or_else(|_| panic!("{}", output_text(&audit)));
    assert_eq!(
        report["advisories"]["client/lib"][0]["title"], "Client lib leaks",
        "{report}"
    );
    let counted = || server.cli_ok(&["package", "downloads", "client/lib"]);
    eventually(std::time::Duration::from_secs(8), counted, || {
        counted().contains("1.0.0.0\t1")
    });
    // Composer asks for 2.0.0 through the sub-repository: carol's constraint holds.
    let two = project.run(&["require", "client/lib:^2.0", "--no-audit"]);
    assert!(!two.status.success());
    assert!(
        output_text(&two).contains("does not match the constraint"),
        "{}",
        output_text(&two)
    );
}
