//! The routes of Packeton's that Composer clients, CI jobs and scripts call, each sent
//! the request Packeton's documentation shows (`?token=user:token` as its docs write
//! it, or HTTP Basic), in process (`common::in_process`): Composer 1's `/p/`, the
//! package document `/packages/{name}.json`, the changelog, the named update hook,
//! Composer 1's `notify`, `/jobs/{id}` and the change feed `/metadata/changes.json`.
//! Where a caller may not see a package, the answer is compared byte for byte with the
//! answer to the same request before the package existed.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use crate::common::basic;
use crate::common::git::GitRepo;
use crate::common::in_process::{Reply, Staffed};

/// An app without mirrors (no name ever leaves it), with one user of each kind
/// (`Staffed`).
type Repo = Staffed;

impl Staffed {
    async fn without_mirrors() -> Repo {
        Self::without_mirrors_and(&[]).await
    }

    /// The same, with more environment.
    async fn without_mirrors_and(env: &[(&str, &str)]) -> Repo {
        let config = json!({"mirrors": {"packagist": false}});
        Staffed::open("packeton-routes", &config, env).await
    }

    /// `path` with Packeton's `?token=user:token` appended.
    fn with_token(&self, user: &str, path: &str) -> String {
        let separator = if path.contains('?') { '&' } else { '?' };
        format!("{path}{separator}token={user}:{}", self.token(user))
    }

    /// `POST path` as `user` with a form body, as Composer 1's `notify` sends it.
    async fn post_form(&self, user: &str, path: &str, form: &str) -> Reply {
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::HOST, "repo.test")
            .header(header::AUTHORIZATION, basic(user, self.token(user)))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned()))
            .unwrap();
        self.call(request).await
    }

    /// `POST path?token=user:token` with the JSON `body`, as a forge's hook or a CI job
    /// sends it.
    async fn post_json(&self, user: &str, path: &str, body: Value) -> Reply {
        let path = self.with_token(user, path);
        self.send(Method::POST, &path, None, Body::from(body.to_string()))
            .await
    }
}

/// A refusal that must not tell a package the caller may not see from one that does
/// not exist: the same status, type and bytes as `unknown`.
fn assert_reads_as_unknown(forbidden: &Reply, unknown: &Reply, what: &str) {
    assert_eq!(
        forbidden.status,
        unknown.status,
        "{what}: {}",
        forbidden.text()
    );
    assert_eq!(
        forbidden.header("content-type"),
        unknown.header("content-type"),
        "{what}"
    );
    assert_eq!(
        forbidden.body,
        unknown.body,
        "{what}: forbidden {:?}, unknown {:?}",
        forbidden.text(),
        unknown.text()
    );
}

/// The versions of a p2 reply, expanded from Composer's minified form.
fn p2_versions(reply: &Reply, package: &str) -> Vec<serde_json::Map<String, Value>> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    crate::common::p2_expanded(&reply.json(), package)
}

#[tokio::test]
async fn composer_1_metadata_holds_the_p2_versions_whole_and_hides_what_the_caller_may_not_see() {
    let repo = Repo::without_mirrors().await;
    let unknown = repo.get_as("customer", "/p/acme/lib.json").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text());
    repo.publish("acme/lib", &["1.0.0", "1.1.0"]).await;

    // Packeton's documented request: `GET /p/[vendor]/[package].json?token=<api_token>`.
    let reply = repo
        .get(&repo.with_token("reader", "/p/acme/lib.json"), &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    assert!(reply.header("last-modified").is_some());
    let document = reply.json();
    assert_eq!(
        document.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["packages"],
        "not minified: {document}"
    );
    let by_version = document["packages"]["acme/lib"].as_object().unwrap();
    assert_eq!(
        by_version.keys().collect::<Vec<_>>(),
        ["1.1.0", "1.0.0"],
        "newest first, keyed by version"
    );
    // The same versions as p2's, whole.
    let p2 = p2_versions(
        &repo.get_as("reader", "/p2/acme/lib.json").await,
        "acme/lib",
    );
    assert_eq!(p2.len(), 2);
    for version in p2 {
        let name = version["version"].as_str().unwrap();
        assert_eq!(by_version[name], Value::Object(version.clone()), "{name}");
    }
    let dist = by_version["1.0.0"]["dist"]["url"].as_str().unwrap();
    assert!(
        dist.starts_with("http://repo.test/zipball/acme/lib/"),
        "{dist}"
    );

    // A caller who may not see it: the unknown package's answer, byte for byte. Composer
    // 1 has no `~dev` file.
    let forbidden = repo.get_as("customer", "/p/acme/lib.json").await;
    assert_reads_as_unknown(
        &forbidden,
        &unknown,
        "/p/ of a package the customer may not see",
    );
    let dev = repo.get_as("reader", "/p/acme/lib~dev.json").await;
    assert_eq!(dev.status, StatusCode::NOT_FOUND, "{}", dev.text());

    // Under a sub-repository: its packages, with URLs under its slug; another package
    // reads as unknown there.
    let created = repo
        .send(
            Method::POST,
            "/api/subrepos",
            Some(&basic("admin", repo.token("admin"))),
            Body::from(
                json!({"slug": "client", "name": "Client", "packages": ["acme/lib"]}).to_string(),
            ),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    repo.refresh_access().await;
    let outside_unknown = repo.get_as("reader", "/client/p/acme/other.json").await;
    repo.publish("acme/other", &["1.0.0"]).await;
    let scoped = repo.get_as("reader", "/client/p/acme/lib.json").await;
    assert_eq!(scoped.status, StatusCode::OK, "{}", scoped.text());
    let dist = scoped.json()["packages"]["acme/lib"]["1.0.0"]["dist"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        dist.starts_with("http://repo.test/client/zipball/acme/lib/"),
        "{dist}"
    );
    let outside = repo.get_as("reader", "/client/p/acme/other.json").await;
    assert_eq!(outside.status, StatusCode::NOT_FOUND);
    assert_reads_as_unknown(
        &outside,
        &outside_unknown,
        "a package outside the sub-repository",
    );
    assert_eq!(
        repo.get_as("reader", "/p/acme/other.json").await.status,
        StatusCode::OK,
        "the root still serves it"
    );
}

#[tokio::test]
async fn the_package_document_is_packetons_shape_beside_the_package_page() {
    let repo = Repo::without_mirrors().await;
    let unknown = repo.get_as("customer", "/packages/acme/lib.json").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text());
    repo.publish("acme/lib", &["1.0.0", "1.1.0"]).await;

    // `GET /packages/[vendor]/[package].json?token=<api_token>`.
    let reply = repo
        .get(&repo.with_token("reader", "/packages/acme/lib.json"), &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let document = reply.json();
    let package = document["package"].as_object().unwrap();
    let fields: BTreeSet<&str> = package.keys().map(String::as_str).collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "name",
            "description",
            "time",
            "maintainers",
            "versions",
            "type",
            "repository",
            "downloads",
            "favers",
        ]),
        "{document}"
    );
    assert_eq!(package["name"], "acme/lib");
    assert_eq!(package["description"], "acme/lib for tests");
    assert_eq!(package["type"], "library");
    assert_eq!(package["maintainers"], json!([]));
    assert_eq!(package["favers"], 0);
    assert_eq!(package["repository"], "http://repo.test/packages/acme/lib");
    assert_eq!(
        package["downloads"],
        json!({"total": 0, "monthly": 0, "daily": 0})
    );
    let time = package["time"].as_str().unwrap();
    assert!(
        time.len() >= 20 && time.as_bytes()[10] == b'T',
        "RFC 3339: {time}"
    );
    let versions = package["versions"].as_object().unwrap();
    assert_eq!(versions.keys().collect::<Vec<_>>(), ["1.1.0", "1.0.0"]);
    assert_eq!(versions["1.0.0"]["version_normalized"], "1.0.0.0");
    assert_eq!(versions["1.0.0"]["name"], "acme/lib");

    let forbidden = repo.get_as("customer", "/packages/acme/lib.json").await;
    assert_reads_as_unknown(
        &forbidden,
        &unknown,
        "the document of a package the customer may not see",
    );

    // The page at the same path without `.json` is still the web UI's: a session's, not
    // a token's (anonymous callers are sent to sign in).
    let page = repo.get_as("reader", "/packages/acme/lib").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text());
    assert!(
        page.header("location").unwrap().starts_with("/login?next="),
        "{:?}",
        page.header("location")
    );
}

#[tokio::test]
async fn composer_1_notify_counts_one_install_as_notify_batch_does() {
    let repo = Repo::without_mirrors().await;
    let form = "version=1.0.0&version_normalized=1.0.0.0";
    let unknown = repo
        .post_form("customer", "/downloads/acme/lib", form)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text());
    assert_eq!(
        unknown.json(),
        json!({"status": "error", "message": "Package not found"})
    );
    repo.publish("acme/lib", &["1.0.0"]).await;
    let forbidden = repo
        .post_form("customer", "/downloads/acme/lib", form)
        .await;
    assert_reads_as_unknown(
        &forbidden,
        &unknown,
        "notify for a package the customer may not see",
    );

    let counted = repo.post_form("reader", "/downloads/acme/lib", form).await;
    assert_eq!(counted.status, StatusCode::CREATED, "{}", counted.text());
    assert_eq!(counted.json(), json!({"status": "success"}));
    let other_version = repo
        .post_form(
            "reader",
            "/downloads/acme/lib",
            "version_normalized=9.9.9.9",
        )
        .await;
    assert_reads_as_unknown(&other_version, &unknown, "a version that does not exist");
    let missing = repo
        .post_form("reader", "/downloads/acme/lib", "version=1.0.0")
        .await;
    assert_eq!(
        missing.status,
        StatusCode::BAD_REQUEST,
        "{}",
        missing.text()
    );

    // Then notify-batch once: both count alike.
    let batch = json!({"downloads": [{"name": "acme/lib", "version": "1.0.0.0"}]});
    let batch = repo
        .send(
            Method::POST,
            "/downloads/",
            Some(&basic("reader", repo.token("reader"))),
            Body::from(batch.to_string()),
        )
        .await;
    assert_eq!(batch.status, StatusCode::OK, "{}", batch.text());
    let stats = repo.get_as("reader", "/packages/acme/lib/stats.json").await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.text());
    assert_eq!(
        stats.json()["downloads"],
        json!({"total": 2, "monthly": 2, "daily": 2})
    );
}

/// A repository of `acme/lib` whose history runs: `Initial import` (1.0.0), `Add the
/// parser`, `Fix the parser's off-by-one` (1.1.0), then `Document the parser` on main
/// and `Teach the parser tabs` on a branch merged with a merge commit (1.2.0).
fn library_with_history() -> GitRepo {
    let repo = GitRepo::new();
    repo.write("composer.json", &json!({"name": "acme/lib"}).to_string());
    repo.commit("Initial import");
    repo.tag("1.0.0");
    repo.write("src/Parser.php", "<?php // one\n");
    repo.commit("Add the parser");
    repo.write("src/Parser.php", "<?php // two\n");
    repo.commit("Fix the parser's off-by-one");
    repo.tag("1.1.0");
    repo.git(&["checkout", "--quiet", "-b", "tabs"]);
    repo.write("src/Tabs.php", "<?php // tabs\n");
    repo.commit("Teach the parser tabs");
    repo.git(&["checkout", "--quiet", "main"]);
    repo.write("README.md", "# Parser\n");
    repo.commit("Document the parser");
    repo.git(&[
        "merge",
        "--quiet",
        "--no-ff",
        "-m",
        "Merge branch 'tabs'",
        "tabs",
    ]);
    repo.tag("1.2.0");
    repo
}

#[tokio::test]
async fn the_changelog_lists_commit_subjects_between_two_versions_for_maintainers() {
    testkit::needs!(Git);
    let repo = Repo::without_mirrors().await;
    let git = library_with_history();
    repo.add_git(&git).await;

    // `GET /packages/{name}/changelog?token=<api_token>&from=…&to=…`, exactly as
    // Packeton answers it.
    let reply = repo
        .get(
            &repo.with_token(
                "maintainer",
                "/packages/acme/lib/changelog?from=1.0.0&to=1.1.0",
            ),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({
            "result": ["Fix the parser's off-by-one", "Add the parser"],
            "error": null,
            "metadata": {"from": "1.0.0", "to": "1.1.0", "package": "acme/lib"},
        })
    );
    // Under the API too; `from` defaults to the release before `to`, and merge commits
    // are left out.
    let reply = repo
        .get_as("maintainer", "/api/packages/acme/lib/changelog?to=1.2.0")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let answer = reply.json();
    assert_eq!(
        answer["metadata"],
        json!({"from": "1.1.0", "to": "1.2.0", "package": "acme/lib"})
    );
    let subjects: BTreeSet<&str> = answer["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        BTreeSet::from(["Document the parser", "Teach the parser tabs"])
    );

    // Packeton's errors, in its shape.
    let missing_to = repo
        .get_as("maintainer", "/packages/acme/lib/changelog?from=1.0.0")
        .await;
    assert_eq!(missing_to.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        missing_to.body,
        br#"{"error":"Parameters: \"to\" can not be empty"}"#.as_slice()
    );
    let first = repo
        .get_as("maintainer", "/packages/acme/lib/changelog?to=1.0.0")
        .await;
    assert_eq!(first.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        first.body,
        br#"{"error":"Previous release do not exists"}"#.as_slice()
    );
    // What git is given are versions' commits, never the caller's words.
    let option = repo
        .get_as(
            "maintainer",
            "/packages/acme/lib/changelog?from=--output%3D%2Ftmp%2Fx&to=1.1.0",
        )
        .await;
    assert_eq!(option.status, StatusCode::BAD_REQUEST, "{}", option.text());
    assert!(
        option.json()["error"]
            .as_str()
            .unwrap()
            .contains("no version")
    );

    // The mirror is a cache: without it, it is made again.
    std::fs::remove_dir_all(repo.data.path().join("vcs")).unwrap();
    let again = repo
        .get_as(
            "maintainer",
            "/packages/acme/lib/changelog?from=1.0.0&to=1.1.0",
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    assert_eq!(
        again.json()["result"],
        json!(["Fix the parser's off-by-one", "Add the parser"])
    );

    // Maintainers only: anyone else is refused alike, whether or not the package exists.
    let refused = repo
        .get_as("reader", "/packages/acme/lib/changelog?to=1.1.0")
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    let refused_unknown = repo
        .get_as("reader", "/packages/acme/none/changelog?to=1.1.0")
        .await;
    assert_eq!(refused.body, refused_unknown.body);
    let unknown = repo
        .get_as("maintainer", "/packages/acme/none/changelog?to=1.1.0")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text());
    // An uploaded package has no history to read.
    repo.publish("acme/zip", &["1.0.0"]).await;
    let uploaded = repo
        .get_as("maintainer", "/packages/acme/zip/changelog?to=1.0.0")
        .await;
    assert_eq!(uploaded.status, StatusCode::BAD_REQUEST);
    assert!(
        uploaded.json()["error"]
            .as_str()
            .unwrap()
            .contains("not a git package"),
        "{}",
        uploaded.text()
    );

    // `/p/` holds the branch and the tags together.
    let v1 = repo.get_as("reader", "/p/acme/lib.json").await;
    let names: BTreeSet<String> = v1.json()["packages"]["acme/lib"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for name in ["1.0.0", "1.1.0", "1.2.0", "dev-main"] {
        assert!(names.contains(name), "{name} in {names:?}");
    }
}

#[tokio::test]
async fn the_named_update_hook_queues_a_scan_whose_job_jobs_shows() {
    testkit::needs!(Git);
    let repo = Repo::without_mirrors().await;
    let (git, _) = crate::common::git::library("acme/lib", "1.0.0");
    repo.add_git(&git).await;

    // Packeton's README: `https://example.org/api/update-package/acme/packet1?token=<token>`.
    let path = repo.with_token("maintainer", "/api/update-package/acme/lib");
    let queued = repo.send(Method::POST, &path, None, Body::empty()).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text());
    let answer = queued.json();
    assert_eq!(answer["status"], "success");
    let jobs = answer["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{answer}");
    let id = jobs[0].as_str().expect("a job id, as a string");
    let by_get = repo.get(&path, &[]).await;
    assert_eq!(by_get.status, StatusCode::ACCEPTED, "{}", by_get.text());

    // `/jobs/{id}` is `/api/jobs/{id}`, byte for byte, about a scan of the package.
    let packeton = repo.get_as("maintainer", &format!("/jobs/{id}")).await;
    let ours = repo.get_as("maintainer", &format!("/api/jobs/{id}")).await;
    assert_eq!(packeton.status, StatusCode::OK, "{}", packeton.text());
    assert_eq!(packeton.body, ours.body);
    let job = packeton.json();
    assert_eq!(job["kind"], "scan");
    assert_eq!(job["payload"]["package"], "acme/lib");
    let missing = repo.get_as("maintainer", "/jobs/999999").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.body,
        repo.get_as("maintainer", "/api/jobs/999999").await.body
    );

    // Maintainers only, refused alike whatever the package; an unknown package is a
    // 404, an uploaded one has nothing to scan.
    let refused = repo
        .send(
            Method::POST,
            &repo.with_token("reader", "/api/update-package/acme/lib"),
            None,
            Body::empty(),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    let refused_unknown = repo
        .send(
            Method::POST,
            &repo.with_token("reader", "/api/update-package/acme/none"),
            None,
            Body::empty(),
        )
        .await;
    assert_eq!(refused.body, refused_unknown.body);
    let unknown = repo
        .get(
            &repo.with_token("maintainer", "/api/update-package/acme/none"),
            &[],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text());
    repo.publish("acme/zip", &["1.0.0"]).await;
    let uploaded = repo
        .get(
            &repo.with_token("maintainer", "/api/update-package/acme/zip"),
            &[],
        )
        .await;
    assert_eq!(
        uploaded.status,
        StatusCode::BAD_REQUEST,
        "{}",
        uploaded.text()
    );

    // The `webhooks` scope: a token for metadata alone is refused.
    let issued = repo
        .send(
            Method::POST,
            "/api/tokens",
            Some(&basic("maintainer", repo.token("maintainer"))),
            Body::from(json!({"name": "composer", "scopes": ["metadata"]}).to_string()),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text());
    let metadata_only = issued.json()["token"].as_str().unwrap().to_owned();
    let scoped = repo
        .get(
            &format!("/api/update-package/acme/lib?token=maintainer:{metadata_only}"),
            &[],
        )
        .await;
    assert_eq!(scoped.status, StatusCode::FORBIDDEN, "{}", scoped.text());
    assert!(scoped.text().contains("webhooks"), "{}", scoped.text());

    // A GET another site's page makes the browser send is refused like a cross-site write.
    let cross_site = repo.get(&path, &[("Sec-Fetch-Site", "cross-site")]).await;
    assert_eq!(
        cross_site.status,
        StatusCode::FORBIDDEN,
        "{}",
        cross_site.text()
    );
}

#[tokio::test]
async fn the_change_feed_lists_changed_packages_in_packagists_units() {
    let repo = Repo::without_mirrors().await;
    let feed =
        |query: &str| repo.with_token("maintainer", &format!("/metadata/changes.json{query}"));
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };

    // Without `since`, or with one that is no number: Packeton's 400, with a timestamp
    // to start from.
    let before = now();
    for query in ["", "?since=soon"] {
        let refused = repo.get(&feed(query), &[]).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{}",
            refused.text()
        );
        let answer = refused.json();
        let timestamp = answer["timestamp"].as_i64().unwrap();
        assert!(
            (before * 10_000..=now() * 10_000).contains(&timestamp),
            "{answer}"
        );
        assert_eq!(
            answer["error"],
            format!(
                "Invalid or missing \"since\" query parameter, make sure you store the timestamp at the initial point you started mirroring, then send that to begin receiving changes, e.g. http://repo.test/metadata/changes.json?since={timestamp} for example."
            )
        );
    }

    // Older than 30 days: resync everything.
    let month_ago = (now() - 31 * 86_400) * 10_000;
    let resync = repo.get(&feed(&format!("?since={month_ago}")), &[]).await;
    assert_eq!(resync.status, StatusCode::OK, "{}", resync.text());
    let answer = resync.json();
    let timestamp = answer["timestamp"].as_i64().unwrap();
    assert_eq!(
        answer["actions"],
        json!([{"type": "resync", "time": timestamp / 10_000, "package": "*"}])
    );

    // A package changed since: an update at the time of its change stamp (the p2
    // file's Last-Modified), in seconds.
    let since = now() - 60;
    repo.publish("acme/lib", &["1.0.0"]).await;
    let changes = repo
        .get(&feed(&format!("?since={}", since * 10_000)), &[])
        .await;
    assert_eq!(changes.status, StatusCode::OK, "{}", changes.text());
    let answer = changes.json();
    let actions = answer["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{answer}");
    assert_eq!(actions[0]["type"], "update");
    assert_eq!(actions[0]["package"], "acme/lib");
    let time = actions[0]["time"].as_i64().unwrap();
    let p2 = repo.get_as("maintainer", "/p2/acme/lib.json").await;
    let stamp = httpdate::parse_http_date(&p2.header("last-modified").unwrap()).unwrap();
    let stamp = stamp
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert_eq!(time, stamp, "{answer}");
    assert!(time >= since, "{answer}");
    // Packeton takes plain Unix seconds too.
    let seconds = repo.get(&feed(&format!("?since={since}")), &[]).await;
    assert_eq!(seconds.json()["actions"], answer["actions"]);
    // Nothing changed after the change.
    let later = repo
        .get(&feed(&format!("?since={}", (time + 1) * 10_000)), &[])
        .await;
    assert_eq!(later.json()["actions"], json!([]), "{}", later.text());

    // Maintainers' feed, as on Packeton.
    let refused = repo
        .get(
            &repo.with_token(
                "reader",
                &format!("/metadata/changes.json?since={}", since * 10_000),
            ),
            &[],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
}

/// Every request Packeton's documentation shows a CI job or a forge sending
/// (docs/authentication.md, docs/usage/api.md, docs/usage/update-packages.md, its
/// README and its /about page), sent as written, with what it must answer here.
#[tokio::test]
async fn every_request_packetons_documentation_shows_is_answered() {
    testkit::needs!(Git);
    // The test's repositories are directories: let the API add them.
    let repo = Repo::without_mirrors_and(&[("PACKYARD_ALLOW_LOCAL_REPOSITORIES", "1")]).await;
    repo.publish("acme/uploaded", &["1.0.0"]).await;
    let (git, _) = crate::common::git::library("acme/lib", "1.0.0");
    let (other, _) = crate::common::git::library("acme/other", "1.0.0");
    let url = git.url();
    let basic_maintainer = basic("maintainer", repo.token("maintainer"));

    // docs/usage/api.md: `POST /api/create-package?token=…` with {"repository":{"url":…}}.
    let created = repo
        .post_json(
            "maintainer",
            "/api/create-package",
            json!({"repository": {"url": url}}),
        )
        .await;
    assert!(created.status.is_success(), "{}", created.text());
    assert_eq!(created.json()["status"], "success", "{}", created.text());
    repo.add_git(&other).await;

    // docs/authentication.md: `curl -u username:apiToken …/packages/list.json`, and the
    // same with `?token=username:apiToken`; docs/usage/api.md: `?vendor=`, `?type=`.
    for reply in [
        repo.get(
            "/packages/list.json",
            &[("Authorization", &basic_maintainer)],
        )
        .await,
        repo.get(&repo.with_token("maintainer", "/packages/list.json"), &[])
            .await,
        repo.get(
            &repo.with_token("maintainer", "/packages/list.json?vendor=acme"),
            &[],
        )
        .await,
        repo.get(
            &repo.with_token("maintainer", "/packages/list.json?type=library"),
            &[],
        )
        .await,
    ] {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let names = reply.json()["packageNames"].clone();
        assert!(
            names
                .as_array()
                .is_some_and(|n| n.contains(&json!("acme/lib"))),
            "{names}"
        );
    }
    // `GET /p/[vendor]/[package].json?token=`, `/p2/…json`, `/packages/[vendor]/[package].json?token=`.
    let v1 = repo
        .get(&repo.with_token("maintainer", "/p/acme/lib.json"), &[])
        .await;
    assert_eq!(v1.status, StatusCode::OK, "{}", v1.text());
    assert!(
        v1.json()["packages"]["acme/lib"]["1.0.0"].is_object(),
        "{}",
        v1.text()
    );
    let p2 = repo
        .get("/p2/acme/lib.json", &[("Authorization", &basic_maintainer)])
        .await;
    assert_eq!(p2.json()["minified"], "composer/2.0", "{}", p2.text());
    let document = repo
        .get(
            &repo.with_token("maintainer", "/packages/acme/lib.json"),
            &[],
        )
        .await;
    assert_eq!(
        document.json()["package"]["name"],
        "acme/lib",
        "{}",
        document.text()
    );
    // `GET /packages/{name}/changelog?token=&from=&to=`.
    let changelog = repo
        .get(
            &repo.with_token(
                "maintainer",
                "/packages/acme/lib/changelog?from=1.0.0&to=1.0.0",
            ),
            &[],
        )
        .await;
    assert!(
        changelog.json().get("result").is_some() || changelog.json().get("error").is_some(),
        "{}",
        changelog.text()
    );

    // docs/usage/update-packages.md and the README's webhook table: each forge's
    // payload at the URL the docs give it, with `?token=user:token`.
    let scanned = |reply: &Reply, package: &str, what: &str| {
        assert_eq!(
            reply.status,
            StatusCode::ACCEPTED,
            "{what}: {}",
            reply.text()
        );
        let jobs = reply.json()["jobs"].clone();
        assert!(
            jobs.as_array()
                .is_some_and(|jobs| jobs.iter().any(|j| j["package"] == package)),
            "{what}: {jobs}"
        );
    };
    let github = json!({"ref": "refs/heads/main", "repository": {"url": url, "html_url": url}});
    scanned(
        &repo.post_json("maintainer", "/api/github", github).await,
        "acme/lib",
        "GitHub",
    );
    let gitlab = json!({"object_kind": "push", "project": {"git_http_url": url}});
    scanned(
        &repo
            .post_json("maintainer", "/api/update-package", gitlab)
            .await,
        "acme/lib",
        "GitLab group hook",
    );
    let gitea =
        json!({"ref": "refs/heads/main", "repository": {"html_url": url, "clone_url": url}});
    scanned(
        &repo
            .post_json("maintainer", "/api/update-package", gitea)
            .await,
        "acme/lib",
        "Gitea",
    );
    let bitbucket = json!({"repository": {"links": {"html": {"href": url}}}});
    scanned(
        &repo
            .post_json("maintainer", "/api/bitbucket", bitbucket)
            .await,
        "acme/lib",
        "Bitbucket",
    );
    let manual = json!({"repository": {"url": url}});
    scanned(
        &repo
            .post_json("maintainer", "/api/update-package", manual)
            .await,
        "acme/lib",
        "manual",
    );
    // By name: `?composer_package_name=`, and the `composer.package_name` bodies.
    let by_query = repo
        .get(
            &repo.with_token(
                "maintainer",
                "/api/update-package?composer_package_name=acme/lib",
            ),
            &[],
        )
        .await;
    scanned(&by_query, "acme/lib", "GET ?composer_package_name");
    let one = json!({"composer": {"package_name": "acme/lib"}});
    scanned(
        &repo
            .post_json("maintainer", "/api/update-package", one)
            .await,
        "acme/lib",
        "one name",
    );
    let two = json!({"composer": {"package_name": ["acme/lib", "acme/other"]}});
    let both = repo
        .post_json("maintainer", "/api/update-package", two)
        .await;
    scanned(&both, "acme/lib", "two names");
    scanned(&both, "acme/other", "two names");
    // The README's custom hook, `/api/update-package/{name}?token=`.
    let named = repo
        .post_json("maintainer", "/api/update-package/acme/lib", json!({}))
        .await;
    assert_eq!(named.status, StatusCode::ACCEPTED, "{}", named.text());

    // What they must not do: name a package that is not a git package here, or be
    // sent by someone who may not update packages.
    let unknown = json!({"composer": {"package_name": "acme/nothing"}});
    let refused = repo
        .post_json("maintainer", "/api/update-package", unknown)
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.text());
    let uploaded = repo
        .get(
            &repo.with_token(
                "maintainer",
                "/api/update-package?composer_package_name=acme/uploaded",
            ),
            &[],
        )
        .await;
    assert_eq!(
        uploaded.status,
        StatusCode::NOT_FOUND,
        "{}",
        uploaded.text()
    );
    let customer = repo
        .get(
            &repo.with_token(
                "customer",
                "/api/update-package?composer_package_name=acme/lib",
            ),
            &[],
        )
        .await;
    assert_eq!(
        customer.status,
        StatusCode::FORBIDDEN,
        "{}",
        customer.text()
    );
    let nothing_named = repo
        .get(&repo.with_token("maintainer", "/api/update-package"), &[])
        .await;
    assert_eq!(
        nothing_named.status,
        StatusCode::BAD_REQUEST,
        "{}",
        nothing_named.text()
    );
}
