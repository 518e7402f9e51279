//! Every state-changing route writes exactly one audit entry naming who did it: a
//! table over the routes the server answers (found by asking each route which methods
//! it allows), so that a route added without an entry, or without a row here, fails.

use std::collections::BTreeSet;

use crate::common::git::library;
use crate::common::*;
use serde_json::{Value, json};
use testkit::hook_receiver::HookReceiver;

const PASSWORD: &str = "correct horse battery staple";

/// The methods the server answers at `path`: those its `405` to a `PATCH` allows
/// (no route of ours takes `PATCH`).
fn allowed_methods(server: &Server, path: &str) -> Vec<String> {
    let reply = send("PATCH", &server.url(path), &[], b"");
    assert_eq!(reply.status, 405, "PATCH {path}: {}", reply.text());
    reply
        .header("allow")
        .unwrap_or_default()
        .split(',')
        .map(|method| method.trim().to_owned())
        .filter(|method| !method.is_empty())
        .collect()
}

/// A path for a route template, with a value for each parameter.
fn path_of(template: &str) -> String {
    template
        .replace("{vendor}", "acme")
        .replace("{package}", "lib")
        .replace("{version}", "9.9.9")
        .replace("{slug}", "client-a")
        .replace("{alias}", "packagist")
        .replace("{id}", "1")
        .replace("{name}", "someone")
}

/// Every `(method, template)` of the API and the web UI that may change something.
fn state_changing_routes(server: &Server) -> BTreeSet<(String, String)> {
    let mut templates: Vec<&str> = packyard::http::routes().templates();
    templates.extend(packyard::web::routes().templates());
    let mut routes = BTreeSet::new();
    for template in templates {
        for method in allowed_methods(server, &path_of(template)) {
            if !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS") {
                routes.insert((method, template.to_owned()));
            }
        }
    }
    routes
}

/// Routes that change nothing an auditor asks about, and why.
const EXEMPT: &[(&str, &str, &str)] = &[
    (
        "POST",
        "/downloads/",
        "install statistics a client reports (archive downloads are counted per caller)",
    ),
    (
        "POST",
        "/downloads/{vendor}/{package}",
        "install statistics a client reports",
    ),
    (
        "POST",
        "/{slug}/downloads/",
        "install statistics a client reports",
    ),
    (
        "POST",
        "/mirror/{alias}/downloads/",
        "install statistics a client reports",
    ),
    (
        "POST",
        "/api/security-advisories/",
        "a query: Composer posts the packages it asks about",
    ),
    (
        "POST",
        "/{slug}/api/security-advisories/",
        "a query: Composer posts the packages it asks about",
    ),
    (
        "POST",
        "/mirror/{alias}/api/security-advisories/",
        "a query: Composer posts the packages it asks about",
    ),
    (
        "POST",
        "/admin/storage",
        "a probe: writes and deletes a test object in each store, changes nothing",
    ),
    (
        "POST",
        "/login/{alias}",
        "a directory's sign-in: recorded by the same code as /login, with an LDAP server in sso_ldap",
    ),
];

const BOUNDARY: &str = "audit-boundary";

/// A `multipart/form-data` body of `fields`, then `file` as the field `file_field`.
fn multipart(fields: &[(&str, &str)], file_field: &str, file: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .into_bytes(),
        );
    }
    body.extend(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{file_field}\"; filename=\"lib.zip\"\r\nContent-Type: application/zip\r\n\r\n"
        )
        .into_bytes(),
    );
    body.extend_from_slice(file);
    body.extend(format!("\r\n--{BOUNDARY}--\r\n").into_bytes());
    body
}

/// The audit log's newest entry number, as an admin reads it through the API.
fn newest(server: &Server, token: &str) -> i64 {
    let reply = get(
        &server.url("/api/audit?limit=1"),
        &[("Authorization", &basic("admin", token))],
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["entries"][0]["seq"].as_i64().unwrap_or(0)
}

/// The entries after `after`, oldest first.
fn entries_after(server: &Server, token: &str, after: i64) -> Vec<Value> {
    let reply = get(
        &server.url("/api/audit?limit=50"),
        &[("Authorization", &basic("admin", token))],
    );
    let mut entries: Vec<Value> = reply.json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["seq"].as_i64().unwrap() > after)
        .cloned()
        .collect();
    entries.reverse();
    entries
}

/// A request as the walk makes it.
struct Call<'a> {
    method: &'static str,
    template: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// What the entry records: its action, and who (user name, how it proved itself).
    action: &'a str,
    actor: &'a str,
    credential: &'a str,
}

/// The server, its admin's token and session, and the routes walked so far.
struct Walk {
    server: Server,
    token: String,
    cookie: String,
    csrf: String,
    walked: BTreeSet<(String, String)>,
}

impl Walk {
    fn api(&self) -> Vec<(&'static str, String)> {
        vec![
            ("Authorization", basic("admin", &self.token)),
            ("Content-Type", "application/json".to_owned()),
        ]
    }

    /// `method template` on the API as the admin, with a JSON `body`.
    fn api_call<'a>(
        &self,
        method: &'static str,
        template: &'static str,
        path: &str,
        body: &Value,
        action: &'a str,
    ) -> Call<'a> {
        Call {
            method,
            template,
            path: path.to_owned(),
            headers: self.api(),
            body: if body.is_null() {
                Vec::new()
            } else {
                body.to_string().into_bytes()
            },
            action,
            actor: "admin",
            credential: "token default",
        }
    }

    /// A form posted to `template` by the admin's browser session.
    fn form<'a>(
        &self,
        template: &'static str,
        path: &str,
        fields: &[(&str, &str)],
        action: &'a str,
    ) -> Call<'a> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("csrf", &self.csrf);
        form.extend_pairs(fields);
        Call {
            method: "POST",
            template,
            path: path.to_owned(),
            headers: vec![
                ("Cookie", self.cookie.clone()),
                (
                    "Content-Type",
                    "application/x-www-form-urlencoded".to_owned(),
                ),
            ],
            body: form.finish().into_bytes(),
            action,
            actor: "root",
            credential: "session",
        }
    }

    /// Makes `call`, which must succeed, and checks that it wrote exactly one entry:
    /// its action, by its actor. Returns the reply.
    fn expect_one(&mut self, call: &Call<'_>) -> Reply {
        let before = newest(&self.server, &self.token);
        let headers: Vec<(&str, &str)> = call
            .headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let reply = send(
            call.method,
            &self.server.url(&call.path),
            &headers,
            &call.body,
        );
        assert!(
            reply.status < 400,
            "{} {}: {} {}",
            call.method,
            call.path,
            reply.status,
            reply.text()
        );
        let written = entries_after(&self.server, &self.token, before);
        assert_eq!(
            written.len(),
            1,
            "{} {} wrote {} entries: {written:#?}",
            call.method,
            call.template,
            written.len()
        );
        let entry = &written[0];
        assert_eq!(
            entry["action"], call.action,
            "{} {}: {entry}",
            call.method, call.template
        );
        assert_eq!(
            entry["actor"], call.actor,
            "{} {}: {entry}",
            call.method, call.template
        );
        assert_eq!(
            entry["credential"], call.credential,
            "{} {}: {entry}",
            call.method, call.template
        );
        assert_eq!(entry["client_ip"], "127.0.0.1", "{entry}");
        self.walked
            .insert((call.method.to_owned(), call.template.to_owned()));
        reply
    }
}

#[test]
fn every_state_changing_route_writes_one_entry_naming_its_actor() {
    let hooks = HookReceiver::start(&[]);
    let config_dir = TempDir::new("audit-routes");
    let config = config_dir.path().join("config.yaml");
    // A strict mirror whose upstream is never asked: approving and forgetting need
    // only the configuration.
    std::fs::write(
        &config,
        "mirrors:\n  packagist: false\n  partner:\n    url: http://127.0.0.1:9/upstream\n    strict: true\n",
    )
    .unwrap();
    let server = Server::start_with(&[
        ("PACKYARD_CONFIG", config.to_str().unwrap()),
        ("PACKYARD_SECRET", "audit routes secret"),
    ]);
    let token = server.add_user("admin", true);
    let output = server.cli_input(
        &["user", "add", "root", "--admin", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(output.status.success(), "{}", output_text(&output));
    let routes = state_changing_routes(&server);
    let mut walk = Walk {
        server,
        token,
        cookie: String::new(),
        csrf: String::new(),
        walked: BTreeSet::new(),
    };

    // Signing in, with a wrong password and the right one.
    let (login_csrf, login_cookie) = login_form(&walk.server, &[]);
    let login = |password: &str| Call {
        method: "POST",
        template: "/login",
        path: "/login".into(),
        headers: vec![
            ("Cookie", login_cookie.clone()),
            (
                "Content-Type",
                "application/x-www-form-urlencoded".to_owned(),
            ),
        ],
        body: form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf", &login_csrf)
            .append_pair("username", "root")
            .append_pair("password", password)
            .finish()
            .into_bytes(),
        action: if password == PASSWORD {
            "login.succeeded"
        } else {
            "login.failed"
        },
        actor: if password == PASSWORD { "root" } else { "" },
        credential: if password == PASSWORD { "password" } else { "" },
    };
    // A refused sign-in answers 401 (the form again): made by hand, then checked.
    let before = newest(&walk.server, &walk.token);
    let wrong = login("wrong password");
    let headers: Vec<(&str, &str)> = wrong
        .headers
        .iter()
        .map(|(n, v)| (*n, v.as_str()))
        .collect();
    let refused = send("POST", &walk.server.url("/login"), &headers, &wrong.body);
    assert_eq!(refused.status, 401, "{}", refused.text());
    let written = entries_after(&walk.server, &walk.token, before);
    assert_eq!(written.len(), 1, "{written:#?}");
    assert_eq!(written[0]["action"], "login.failed");
    assert_eq!(written[0]["object"], "root");
    assert_eq!(written[0]["details"]["reason"], "wrong credentials");
    let signed_in = walk.expect_one(&login(PASSWORD));
    walk.cookie = session_cookie(&signed_in)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = get(
        &walk.server.url("/admin/users"),
        &[("Cookie", &walk.cookie)],
    );
    let text = page.text();
    let start = text.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    walk.csrf = text[start..start + text[start..].find('"').unwrap()].to_owned();

    // Packages: uploads (ours and Packeton's path), a git package and its re-scans.
    let archive = |version: &str| package_zip("acme/lib", &[], version);
    let mut upload = walk.api_call(
        "PUT",
        "/api/packages/upload/{vendor}/{package}/{version}",
        "/api/packages/upload/acme/lib/1.0.0",
        &Value::Null,
        "version.published",
    );
    upload.body = archive("1.0.0");
    walk.expect_one(&upload);
    for (method, version) in [("PUT", "1.1.0"), ("POST", "1.2.0")] {
        let mut upload = walk.api_call(
            method,
            "/packages/upload/{vendor}/{package}/{version}",
            &format!("/packages/upload/acme/lib/{version}"),
            &Value::Null,
            "version.published",
        );
        if method == "POST" {
            upload.headers[1].1 = format!("multipart/form-data; boundary={BOUNDARY}");
            upload.body = multipart(&[], "package", &archive(version));
        } else {
            upload.body = archive(version);
        }
        walk.expect_one(&upload);
    }
    let (repo, _) = library("acme/git", "1.0.0");
    let call = walk.api_call(
        "POST",
        "/api/create-package",
        "/api/create-package",
        &json!({"repository": {"url": repo.url()}}),
        "package.added",
    );
    walk.expect_one(&call);
    let hook_bodies = [
        (
            "/api/update-package",
            json!({"repository": {"url": repo.url()}}),
        ),
        (
            "/api/github",
            json!({"repository": {"clone_url": repo.url()}}),
        ),
        (
            "/api/gitea",
            json!({"repository": {"clone_url": repo.url()}}),
        ),
        (
            "/api/gitlab",
            json!({"project": {"git_http_url": repo.url()}}),
        ),
        (
            "/api/bitbucket",
            json!({"repository": {"links": {"clone": [{"href": repo.url()}]}}}),
        ),
    ];
    for (template, body) in hook_bodies {
        let call = walk.api_call("POST", template, template, &body, "package.scan_requested");
        walk.expect_one(&call);
    }
    let call = walk.api_call(
        "POST",
        "/api/update-package/{vendor}/{package}",
        "/api/update-package/acme/git",
        &Value::Null,
        "package.scan_requested",
    );
    walk.expect_one(&call);
    let call = walk.form(
        "/packages/{vendor}/{package}/update",
        "/packages/acme/git/update",
        &[],
        "package.scan_requested",
    );
    walk.expect_one(&call);

    // Mirrors.
    let call = walk.api_call(
        "POST",
        "/api/mirrors/{alias}/approve",
        "/api/mirrors/partner/approve",
        &json!({"packages": ["psr/log"]}),
        "mirror.approved",
    );
    walk.expect_one(&call);
    let call = walk.form(
        "/admin/mirrors/{alias}/approve",
        "/admin/mirrors/partner/approve",
        &[("packages", "psr/container\npsr/cache")],
        "mirror.approved",
    );
    walk.expect_one(&call);
    let call = walk.form(
        "/admin/mirrors/{alias}/forget",
        "/admin/mirrors/partner/forget",
        &[("package", "psr/log")],
        "mirror.forgotten",
    );
    walk.expect_one(&call);

    // Advisories and blocks.
    let call = walk.api_call(
        "POST",
        "/api/advisories",
        "/api/advisories",
        &json!({"package": "acme/lib", "affectedVersions": "<1.1.0", "title": "A hole"}),
        "advisory.added",
    );
    let advisory = walk.expect_one(&call).json()["advisoryId"]
        .as_str()
        .unwrap()
        .to_owned();
    let call = walk.api_call(
        "DELETE",
        "/api/advisories/{id}",
        &format!("/api/advisories/{advisory}"),
        &Value::Null,
        "advisory.removed",
    );
    walk.expect_one(&call);
    let call = walk.api_call(
        "POST",
        "/api/blocks",
        "/api/blocks",
        &json!({"package": "acme/lib", "versions": "1.2.0", "reason": "bad", "category": "malware"}),
        "block.added",
    );
    let block = walk.expect_one(&call).json()["id"].as_i64().unwrap();
    let call = walk.api_call(
        "DELETE",
        "/api/blocks/{id}",
        &format!("/api/blocks/{block}"),
        &Value::Null,
        "block.removed",
    );
    walk.expect_one(&call);
    let call = walk.form(
        "/admin/blocks",
        "/admin/blocks",
        &[
            ("package", "acme/lib"),
            ("versions", "1.2.0"),
            ("reason", "bad"),
            ("category", "policy"),
        ],
        "block.added",
    );
    walk.expect_one(&call);
    let call = walk.form(
        "/admin/blocks/category",
        "/admin/blocks/category",
        &[("category", "policy"), ("treatment", "flag")],
        "block.category_set",
    );
    walk.expect_one(&call);
    let blocks = get(
        &walk.server.url("/api/blocks"),
        &[("Authorization", &basic("admin", &walk.token))],
    );
    let block = blocks.json()["blocks"][0]["id"].as_i64().unwrap();
    let call = walk.form(
        "/admin/blocks/{id}/remove",
        &format!("/admin/blocks/{block}/remove"),
        &[("id", &block.to_string())],
        "block.removed",
    );
    walk.expect_one(&call);

    // Webhooks: one, a delivery of the next release, its redelivery.
    let call = walk.api_call(
        "POST",
        "/api/webhooks",
        "/api/webhooks",
        &json!({"name": "ci", "url": hooks.url("/hooks"), "events": ["new_release"]}),
        "webhook.created",
    );
    walk.expect_one(&call);
    let mut upload = walk.api_call(
        "PUT",
        "/api/packages/upload/{vendor}/{package}/{version}",
        "/api/packages/upload/acme/lib/1.3.0",
        &Value::Null,
        "version.published",
    );
    upload.body = archive("1.3.0");
    walk.expect_one(&upload);
    let deliveries = get(
        &walk.server.url("/api/webhooks/ci/deliveries"),
        &[("Authorization", &basic("admin", &walk.token))],
    );
    let delivery = deliveries.json()["deliveries"][0]["delivery"]
        .as_str()
        .unwrap()
        .to_owned();
    let call = walk.api_call(
        "POST",
        "/api/webhooks/deliveries/{id}/redeliver",
        &format!("/api/webhooks/deliveries/{delivery}/redeliver"),
        &Value::Null,
        "webhook.redelivered",
    );
    walk.expect_one(&call);
    let call = walk.api_call(
        "DELETE",
        "/api/webhooks/{name}",
        "/api/webhooks/ci",
        &Value::Null,
        "webhook.removed",
    );
    walk.expect_one(&call);

    // Groups, over the API and the web UI.
    let call = walk.api_call(
        "POST",
        "/api/groups",
        "/api/groups",
        &json!({"name": "customers", "aclPermissions": [{"name": "acme/lib"}]}),
        "group.created",
    );
    let group = walk.expect_one(&call).json()["id"].as_i64().unwrap();
    let call = walk.api_call(
        "PUT",
        "/api/group/{id}",
        &format!("/api/group/{group}"),
        &json!({"aclPermissions": [{"name": "acme/*"}], "expiredUpdatesAt": "2030-01-01"}),
        "group.changed",
    );
    walk.expect_one(&call);
    let call = walk.form(
        "/admin/groups",
        "/admin/groups",
        &[("name", "partners")],
        "group.created",
    );
    walk.expect_one(&call);
    let call = walk.form(
        "/admin/groups/{name}/grants",
        "/admin/groups/partners/grants",
        &[("package", "acme/lib"), ("versions", "^1.0")],
        "grant.added",
    );
    walk.expect_one(&call);
    let call = walk.form(
        "/admin/groups/{name}/grants/revoke",
        "/admin/groups/partners/grants/revoke",
        &[("package", "acme/lib")],
        "grant.removed",
    );
    walk.expect_one(&call);
    let call = walk.form(
        "/admin/groups/{name}/settings",
        "/admin/groups/partners/settings",
        &[("updates_until", "2030-01-01")],
        "group.changed",
    );
    walk.expect_one(&call);

    // Users, over the API and the web UI; a user's tokens.
    let call = walk.api_call(
        "POST",
        "/api/users",
        "/api/users",
        &json!({"username": "carol", "groups": [group]}),
        "user.created",
    );
    let carol = walk.expect_one(&call).json()["id"].as_i64().unwrap();
    let call = walk.api_call(
        "PUT",
        "/api/user/{id}",
        &format!("/api/user/{carol}"),
        &json!({"fullAccess": true, "groups": []}),
        "user.changed",
    );
    walk.expect_one(&call);
    let call = walk.form(
        "/admin/users",
        "/admin/users",
        &[("name", "dave"), ("role", "user"), ("group", "partners")],
        "user.created",
    );
    walk.expect_one(&call);
    let call = walk.form(
        "/admin/users/{name}",
        "/admin/users/dave",
        &[
            ("role", "user"),
            ("group", "customers"),
            ("password", "another long password"),
        ],
        "user.changed",
    );
    walk.expect_one(&call);
    let call = walk.form(
        "/admin/groups/{name}/members",
        "/admin/groups/partners/members",
        &[("user", "carol"), ("action", "add")],
        "membership.added",
    );
    walk.expect_one(&call);
    let call = walk.api_call(
        "POST",
        "/api/tokens",
        "/api/tokens",
        &json!({"name": "ci", "scopes": ["metadata"]}),
        "token.created",
    );
    walk.expect_one(&call);
    let call = walk.api_call(
        "DELETE",
        "/api/tokens/{name}",
        "/api/tokens/ci",
        &Value::Null,
        "token.revoked",
    );
    walk.expect_one(&call);
    let call = walk.form(
        "/profile/tokens",
        "/profile/tokens",
        &[("name", "laptop"), ("scope", "metadata")],
        "token.created",
    );
    walk.expect_one(&call);
    let call = walk.form(
        "/profile/tokens/revoke",
        "/profile/tokens/revoke",
        &[("name", "laptop")],
        "token.revoked",
    );
    walk.expect_one(&call);

    // Sub-repositories.
    let call = walk.api_call(
        "POST",
        "/api/subrepos",
        "/api/subrepos",
        &json!({"slug": "client-a", "name": "Client A", "packages": ["acme/*"]}),
        "subrepo.created",
    );
    walk.expect_one(&call);
    let call = walk.api_call(
        "PUT",
        "/api/subrepo/{slug}",
        "/api/subrepo/client-a",
        &json!({"name": "Client A", "packages": ["acme/lib"]}),
        "subrepo.changed",
    );
    walk.expect_one(&call);
    let call = walk.form(
        "/admin/subrepos",
        "/admin/subrepos",
        &[
            ("slug", "client-b"),
            ("name", "Client B"),
            ("packages", "acme/*"),
        ],
        "subrepo.created",
    );
    walk.expect_one(&call);
    let call = walk.form(
        "/admin/subrepos/{slug}",
        "/admin/subrepos/client-b",
        &[("name", "Client B"), ("packages", "acme/lib")],
        "subrepo.changed",
    );
    walk.expect_one(&call);
    let call = walk.form(
        "/admin/subrepos/{slug}/remove",
        "/admin/subrepos/client-b/remove",
        &[],
        "subrepo.removed",
    );
    walk.expect_one(&call);
    let call = walk.api_call(
        "DELETE",
        "/api/subrepo/{slug}",
        "/api/subrepo/client-a",
        &Value::Null,
        "subrepo.removed",
    );
    walk.expect_one(&call);

    // Removals: a package added from the web UI, then removed; users; groups.
    let (web_repo, _) = library("acme/web", "1.0.0");
    let call = walk.form(
        "/admin/packages",
        "/admin/packages",
        &[("url", &web_repo.url())],
        "package.added",
    );
    walk.expect_one(&call);
    let call = walk.form(
        "/packages/{vendor}/{package}/delete",
        "/packages/acme/web/delete",
        &[("confirm", "acme/web")],
        "package.removed",
    );
    walk.expect_one(&call);
    let call = walk.form(
        "/admin/users/{name}/remove",
        "/admin/users/dave/remove",
        &[],
        "user.removed",
    );
    walk.expect_one(&call);
    let call = walk.api_call(
        "DELETE",
        "/api/user/{id}",
        &format!("/api/user/{carol}"),
        &Value::Null,
        "user.removed",
    );
    walk.expect_one(&call);
    let call = walk.form(
        "/admin/groups/{name}/remove",
        "/admin/groups/partners/remove",
        &[],
        "group.removed",
    );
    walk.expect_one(&call);
    let call = walk.api_call(
        "DELETE",
        "/api/group/{id}",
        &format!("/api/group/{group}"),
        &Value::Null,
        "group.removed",
    );
    walk.expect_one(&call);

    // The admin's multipart upload.
    let mut call = walk.form(
        "/admin/packages/upload",
        "/admin/packages/upload",
        &[],
        "version.published",
    );
    call.headers[1].1 = format!("multipart/form-data; boundary={BOUNDARY}");
    call.body = multipart(
        &[("csrf", &walk.csrf), ("version", "1.4.0")],
        "file",
        &archive("1.4.0"),
    );
    walk.expect_one(&call);

    // Signing out, last.
    let call = walk.form("/logout", "/logout", &[], "logout");
    walk.expect_one(&call);

    // Every state-changing route was walked or is exempt, and nothing else was.
    let exempt: BTreeSet<(String, String)> = EXEMPT
        .iter()
        .map(|(method, template, _)| ((*method).to_owned(), (*template).to_owned()))
        .collect();
    let missing: Vec<&(String, String)> = routes
        .iter()
        .filter(|route| !walk.walked.contains(*route) && !exempt.contains(*route))
        .collect();
    assert!(
        missing.is_empty(),
        "state-changing routes without a row in this table: {missing:?}"
    );
    let unknown: Vec<&(String, String)> = walk
        .walked
        .iter()
        .chain(&exempt)
        .filter(|route| !routes.contains(*route))
        .collect();
    assert!(
        unknown.is_empty(),
        "rows for routes the server does not answer: {unknown:?}"
    );

    // The chain the walk wrote holds.
    let verified = walk.server.cli(&["audit", "verify"]);
    assert!(verified.status.success(), "{}", output_text(&verified));
}

/// Every command of the CLI, as its words (`["user", "add"]`).
fn cli_commands() -> BTreeSet<String> {
    fn leaves(command: &clap::Command, path: &[&str], out: &mut BTreeSet<String>) {
        let mut children = command
            .get_subcommands()
            .filter(|c| c.get_name() != "help")
            .peekable();
        if children.peek().is_none() {
            out.insert(path.join(" "));
            return;
        }
        for child in children {
            let mut next = path.to_vec();
            next.push(child.get_name());
            leaves(child, &next, out);
        }
    }
    let mut out = BTreeSet::new();
    leaves(
        &<packyard::cli::Cli as clap::CommandFactory>::command(),
        &[],
        &mut out,
    );
    out
}

/// Commands that are not one change, and why.
const CLI_EXEMPT: &[(&str, &str)] = &[
    (
        "serve",
        "runs the server: what it changes is recorded request by request",
    ),
    (
        "import packeton",
        "one entry per user, group, package and token it imports",
    ),
    ("import satis", "one entry per package it imports"),
    (
        "storage migrate",
        "copies archives between stores; the database records where they are",
    ),
    (
        "storage check",
        "a probe: writes and deletes a test object in each store",
    ),
    (
        "mirror sync",
        "refreshes what a mirror caches from its upstream",
    ),
    (
        "audit prune",
        "records itself only when it removes entries (audit::a_forged_prune_is_found_and_a_genuine_one_keeps_the_chain_checkable)",
    ),
];

/// Commands that read and change nothing.
const CLI_READS: &[&str] = &[
    "user list",
    "group list",
    "subrepo list",
    "token list",
    "access explain",
    "package downloads",
    "storage verify",
    "mirror list",
    "advisory list",
    "block list",
    "audit verify",
    "audit list",
    "audit downloads",
    "plugin list",
    "webhook list",
    "webhook deliveries",
    "login list",
    "jobs",
];

/// Runs `args` at the server's command line and checks the entries it wrote: one with
/// `action` by the operator, or none for `None`. Returns what it printed.
fn run_cli(
    server: &Server,
    token: &str,
    args: &[&str],
    input: Option<&str>,
    action: Option<&str>,
    done: &mut BTreeSet<String>,
) -> String {
    let before = newest(server, token);
    let output = match input {
        Some(input) => server.cli_input(args, input),
        None => server.cli(args),
    };
    assert!(
        output.status.success(),
        "{args:?}: {}",
        output_text(&output)
    );
    let written = entries_after(server, token, before);
    match action {
        Some(action) => {
            assert_eq!(written.len(), 1, "{args:?} wrote {written:#?}");
            assert_eq!(written[0]["action"], action, "{args:?}: {}", written[0]);
            assert_eq!(written[0]["actor_kind"], "cli", "{args:?}: {}", written[0]);
            assert!(
                written[0]["credential"]
                    .as_str()
                    .unwrap()
                    .starts_with("cli "),
                "{}",
                written[0]
            );
        }
        None => assert!(written.is_empty(), "{args:?} wrote {written:#?}"),
    }
    let command: Vec<&str> = args
        .iter()
        .copied()
        .take_while(|arg| !arg.starts_with('-'))
        .take(2)
        .collect();
    let known = cli_commands();
    let name = if known.contains(&command.join(" ")) {
        command.join(" ")
    } else {
        command[0].to_owned()
    };
    done.insert(name);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn every_state_changing_command_writes_one_entry_and_reading_ones_none() {
    let config_dir = TempDir::new("audit-cli");
    let config = config_dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "mirrors:\n  packagist: false\n  partner:\n    url: http://127.0.0.1:9/upstream\n    strict: true\n\
         login:\n  corp:\n    type: ldap\n    url: ldaps://127.0.0.1:9\n    user_base: ou=people,dc=example\n    bind_dn: cn=svc,dc=example\n    bind_password_env: AUDIT_LDAP_PASSWORD\n    user_filter: \"(uid={username})\"\n",
    )
    .unwrap();
    let hooks = HookReceiver::start(&[]);
    let server = Server::start_with(&[
        ("PACKYARD_CONFIG", config.to_str().unwrap()),
        ("PACKYARD_SECRET", "audit cli secret"),
        ("AUDIT_LDAP_PASSWORD", "never used"),
    ]);
    let token = server.add_user("admin", true);
    let reply = upload(
        &server,
        &token,
        "acme/lib",
        "1.0.0",
        &package_zip("acme/lib", &[], "1"),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let (repo, _) = library("acme/git", "1.0.0");
    let files = TempDir::new("audit-cli-files");
    let archive = files.path().join("lib.zip");
    std::fs::write(&archive, package_zip("acme/lib", &[], "2")).unwrap();
    let archive = archive.to_str().unwrap();
    let mut done = BTreeSet::new();
    // `user passwd` reads the password from its input.
    let mut run = |args: &[&str], action: Option<&str>| {
        let input = (args.get(1) == Some(&"passwd")).then_some("a long enough password\n");
        run_cli(&server, &token, args, input, action, &mut done)
    };

    run(&["user", "add", "erin"], Some("user.created"));
    run(
        &["user", "set", "erin", "--full-access"],
        Some("user.changed"),
    );
    run(
        &[
            "user",
            "link",
            "erin",
            "--provider",
            "corp",
            "--subject",
            "uid=erin",
        ],
        Some("identity.linked"),
    );
    run(
        &["user", "unlink", "erin", "--provider", "corp"],
        Some("identity.unlinked"),
    );
    run(&["group", "add", "g"], Some("group.created"));
    run(&["group", "grant", "g", "acme/lib"], Some("grant.added"));
    run(&["group", "revoke", "g", "acme/lib"], Some("grant.removed"));
    run(
        &["group", "set", "g", "--mirrors", "partner"],
        Some("group.changed"),
    );
    run(
        &["group", "members", "g", "--add", "erin"],
        Some("membership.added"),
    );
    run(
        &["subrepo", "add", "s", "--name", "S", "--packages", "acme/*"],
        Some("subrepo.created"),
    );
    run(
        &["subrepo", "set", "s", "--name", "S2"],
        Some("subrepo.changed"),
    );
    run(&["subrepo", "remove", "s"], Some("subrepo.removed"));
    run(
        &["token", "create", "erin", "--name", "ci"],
        Some("token.created"),
    );
    run(&["token", "revoke", "erin", "ci"], Some("token.revoked"));
    run(
        &["package", "upload", archive, "--version", "2.0.0"],
        Some("version.published"),
    );
    run(&["package", "add", &repo.url()], Some("package.added"));
    run(&["package", "update", "acme/git"], Some("package.scanned"));
    run(
        &["package", "set", "acme/lib", "--public"],
        Some("package.visibility"),
    );
    run(
        &["mirror", "approve", "partner", "psr/log"],
        Some("mirror.approved"),
    );
    run(
        &["mirror", "forget", "partner", "psr/log"],
        Some("mirror.forgotten"),
    );
    run(
        &[
            "advisory",
            "add",
            "acme/lib",
            "--affected",
            "<1.0",
            "--title",
            "T",
        ],
        Some("advisory.added"),
    );
    let listed = run(&["advisory", "list"], None);
    let advisory = listed
        .split_whitespace()
        .find(|w| w.starts_with("PKSA-") || w.starts_with("PKYSA-"))
        .unwrap_or_else(|| panic!("no advisory id in {listed}"))
        .to_owned();
    run(&["advisory", "remove", &advisory], Some("advisory.removed"));
    run(
        &[
            "block",
            "add",
            "acme/lib",
            "--versions",
            "1.0.0",
            "--reason",
            "r",
            "--category",
            "malware",
        ],
        Some("block.added"),
    );
    run(
        &["block", "category", "malware", "--flag"],
        Some("block.category_set"),
    );
    let listed = run(&["block", "list"], None);
    let block = listed.split('\t').next().unwrap().trim().to_owned();
    run(&["block", "remove", &block], Some("block.removed"));
    run(
        &["plugin", "approve", "acme/plug", "--major", "1"],
        Some("plugin.approved"),
    );
    run(&["plugin", "revoke", "acme/plug"], Some("plugin.revoked"));
    run(
        &[
            "webhook",
            "add",
            "ci",
            "--url",
            &hooks.url("/hooks"),
            "--events",
            "new_release",
        ],
        Some("webhook.created"),
    );
    let reply = upload(
        &server,
        &token,
        "acme/lib",
        "3.0.0",
        &package_zip("acme/lib", &[], "3"),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let listed = run(&["webhook", "deliveries", "ci"], None);
    let delivery = listed
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("no delivery in {listed}"))
        .to_owned();
    run(
        &["webhook", "redeliver", &delivery],
        Some("webhook.redelivered"),
    );
    run(&["webhook", "remove", "ci"], Some("webhook.removed"));
    run(
        &["secrets", "rotate", "--old", "an older secret"],
        Some("secrets.rotated"),
    );
    run(&["audit", "checkpoint"], Some("audit.checkpoint"));
    for read in [
        &["user", "list"][..],
        &["group", "list"],
        &["subrepo", "list"],
        &["token", "list", "erin"],
        &["access", "explain", "erin", "acme/lib"],
        &["package", "downloads", "acme/lib"],
        &["storage", "verify"],
        &["mirror", "list"],
        &["audit", "verify"],
        &["audit", "list"],
        &["audit", "downloads", "acme/lib"],
        &["plugin", "list"],
        &["webhook", "list"],
        &["login", "list"],
        &["jobs"],
    ] {
        run(read, None);
    }
    run(&["group", "remove", "g"], Some("group.removed"));
    run(&["user", "passwd", "erin"], Some("user.password_set"));
    run(&["user", "remove", "erin"], Some("user.removed"));

    let exempt: BTreeSet<String> = CLI_EXEMPT.iter().map(|(c, _)| (*c).to_owned()).collect();
    let reads: BTreeSet<String> = CLI_READS.iter().map(|c| (*c).to_owned()).collect();
    let missing: Vec<String> = cli_commands()
        .into_iter()
        .filter(|c| !done.contains(c) && !exempt.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "commands without a row in this table: {missing:?}"
    );
    let unread: Vec<&String> = reads.iter().filter(|c| !done.contains(*c)).collect();
    assert!(unread.is_empty(), "reading commands not run: {unread:?}");
}
