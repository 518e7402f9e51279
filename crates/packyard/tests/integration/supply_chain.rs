//! Supply-chain protection, with the real composer: immutable versions (a moved tag, a
//! deleted tag and a forced re-upload leave every existing composer.lock installing the
//! bytes it names).

use std::time::Duration;

use crate::common::git::library;
use crate::common::*;
use serde_json::{Value, json};
use testkit::hook_receiver::HookReceiver;

const SCAN_LIMIT: Duration = Duration::from_secs(30);

/// A fresh project (its own Composer cache) holding `project`'s composer.json and
/// composer.lock: what a colleague or CI gets from the repository.
fn checkout_of(
    server: &Server,
    user: &str,
    token: &str,
    project: &ComposerProject,
) -> ComposerProject {
    let copy = ComposerProject::new(server, user, token);
    for file in ["composer.json", "composer.lock"] {
        std::fs::copy(project.dir.path().join(file), copy.dir.path().join(file)).unwrap();
    }
    copy
}

fn install(project: &ComposerProject) {
    let output = project.run(&["install"]);
    assert!(output.status.success(), "{}", output_text(&output));
}

fn locked_reference(project: &ComposerProject, package: &str) -> String {
    project.lock()["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == package)
        .map(|p| p["dist"]["reference"].as_str().unwrap().to_owned())
        .unwrap()
}

#[test]
fn a_moved_or_deleted_tag_leaves_its_version_and_old_locks_install_the_first_bytes() {
    let hooks = HookReceiver::start(&[]);
    let (repo, first) = library("acme/lib", "1.0.0");
    let server = Server::start_with(&[
        ("PACKYARD_SECRET", "supply chain test secret"),
        ("PACKYARD_ALLOW_NETWORKS", "127.0.0.0/8"),
    ]);
    let token = server.add_maintainer("maintainer");
    server.cli_ok(&[
        "webhook",
        "add",
        "audit",
        "--url",
        &hooks.url("/hooks"),
        "--events",
        "version_conflict",
    ]);
    let created = create_package(&server, "maintainer", &token, &json!({"url": repo.url()}));
    assert_eq!(created.status, 201, "{}", created.text());

    // The lock is written without installing: no archive is built before the tag moves,
    // so keeping the first bytes is the scan's doing, not a download's.
    let project = ComposerProject::new(&server, "maintainer", &token);
    let output = project.run(&["require", "acme/lib:^1.0", "--no-install", "--no-audit"]);
    assert!(output.status.success(), "{}", output_text(&output));
    assert_eq!(locked_reference(&project, "acme/lib"), first);

    // Someone force-pushes the tag to other code.
    repo.write_library("acme/lib", "evil", Value::Null);
    let evil = repo.commit("evil");
    repo.git(&["tag", "--force", "1.0.0"]);
    let job = update_package(&server, "maintainer", &token, &repo.url(), SCAN_LIMIT);
    assert_eq!(job["state"], "succeeded", "{job}");
    let notices = job["result"]["notices"].to_string();
    assert!(
        notices.contains(&evil) && notices.contains(&first) && notices.contains("immutable"),
        "the scan reports the moved tag: {job}"
    );
    assert_eq!(
        versions(&server, "maintainer", &token, "acme/lib"),
        [("1.0.0".to_owned(), first.clone())],
        "1.0.0 keeps its first commit"
    );
    assert!(
        server.log_lines("the tag of an immutable version moved") >= 1,
        "{}",
        server.log()
    );
    let delivered = hooks.wait_for(1, Duration::from_secs(20));
    let body: Value = serde_json::from_slice(&delivered[0].body).unwrap();
    assert_eq!(body["event"], "version_conflict", "{body}");
    assert_eq!(body["version"]["reference"], first, "{body}");
    assert_eq!(body["offered_reference"], evil, "{body}");

    let colleague = checkout_of(&server, "maintainer", &token, &project);
    install(&colleague);
    let installed = colleague.installed_file("acme/lib/src/Lib.php").unwrap();
    assert!(installed.contains("'1.0.0'"), "{installed}");

    // The tag is deleted: 1.0.0 leaves the metadata, its archive stays for the lock.
    repo.git(&["tag", "-d", "1.0.0"]);
    repo.tag("1.1.0");
    let job = update_package(&server, "maintainer", &token, &repo.url(), SCAN_LIMIT);
    assert_eq!(job["state"], "succeeded", "{job}");
    let listed = versions(&server, "maintainer", &token, "acme/lib");
    assert_eq!(listed, [("1.1.0".to_owned(), evil.clone())]);
    let ci = checkout_of(&server, "maintainer", &token, &project);
    install(&ci);
    let installed = ci.installed_file("acme/lib/src/Lib.php").unwrap();
    assert!(installed.contains("'1.0.0'"), "{installed}");
    // Nobody else reaches it: an unknown user's download of the kept archive is a 401,
    // and a plain user who sees nothing of the package gets the unknown-package 404.
    let outsider = server.add_plain_user("outsider", &[]);
    let kept = get(
        &server.url(&format!("/zipball/acme/lib/{first}.zip")),
        &[("Authorization", &basic("outsider", &outsider))],
    );
    let unknown = get(
        &server.url(&format!("/zipball/acme/nothing/{first}.zip")),
        &[("Authorization", &basic("outsider", &outsider))],
    );
    assert_eq!(kept.status, 404);
    assert_eq!(
        kept.text(),
        unknown.text().replace("acme/nothing", "acme/lib"),
        "a kept archive is as unknown as anything else to whoever does not see its version"
    );
}

#[test]
fn an_uploaded_release_changes_only_with_force_and_old_locks_install_the_first_bytes() {
    let server = Server::start();
    let admin = server.add_user("admin", true);
    let first = package_zip("acme/up", &[], "first");
    assert_eq!(
        upload(&server, &admin, "acme/up", "1.0.0", &first).status,
        201
    );
    let project = ComposerProject::new(&server, "admin", &admin);
    project.require("acme/up:^1.0");
    assert_eq!(locked_reference(&project, "acme/up"), sha1_hex(&first));

    let second = package_zip("acme/up", &[], "second");
    let refused = upload(&server, &admin, "acme/up", "1.0.0", &second);
    assert_eq!(refused.status, 409, "{}", refused.text());
    assert!(refused.text().contains("force"), "{}", refused.text());
    let forced = put(
        &server.url("/api/packages/upload/acme/up/1.0.0?force=1"),
        &[("Authorization", &basic("admin", &admin))],
        &second,
    );
    assert_eq!(forced.status, 200, "{}", forced.text());
    assert_eq!(forced.json()["outcome"], "replaced");
    let published = version_documents(&server, "admin", &admin, "acme/up");
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["dist"]["reference"], sha1_hex(&second));
    assert!(
        server.log_lines("an immutable version was replaced with --force") >= 1,
        "{}",
        server.log()
    );

    // The lock written before names the first archive, which still installs, checked
    // against the sha1 in the lock.
    let colleague = checkout_of(&server, "admin", &admin, &project);
    install(&colleague);
    let installed = colleague.installed_file("acme/up/src/Up.php").unwrap();
    assert!(installed.contains("'first'"), "{installed}");
    // A new project gets the replacement.
    let fresh = ComposerProject::new(&server, "admin", &admin);
    fresh.require("acme/up:^1.0");
    let installed = fresh.installed_file("acme/up/src/Up.php").unwrap();
    assert!(installed.contains("'second'"), "{installed}");
}
