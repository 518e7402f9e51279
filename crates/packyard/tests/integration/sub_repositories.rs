//! Sub-repositories (`packyard subrepo`): a Composer repository at `/{slug}` with only
//! its packages, installed from by the real `composer`.

use serde_json::Value;

use crate::common::*;

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
    for (name, marker) in [
        ("client/lib", "client"),
        ("other/lib", "other"),
        ("tools/cli", "tools"),
    ] {
        let created = upload(
            &server,
            &admin,
            name,
            "1.0.0",
            &package_zip(name, &[], marker),
        );
        assert_eq!(created.status, 201, "{}", created.text());
    }
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
    assert!(found.len() >= 6, "{found:?}");
    for url in &found {
        assert!(
            url.starts_with(&format!("{base}/")),
            "{url} is outside {base}"
        );
    }
    // Outside the sub-repository, a package is unknown: the very bytes of a name that
    // does not exist at all.
    let outside = get(
        &format!("{base}/p2/other/lib.json"),
        &[("Authorization", &auth)],
    );
    let nowhere = get(
        &format!("{base}/p2/nobody/nothing.json"),
        &[("Authorization", &auth)],
    );
    assert_eq!(outside.status, 404);
    assert_eq!(
        outside.text().replace("other/lib", "NAME"),
        nowhere.text().replace("nobody/nothing", "NAME")
    );
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
}
