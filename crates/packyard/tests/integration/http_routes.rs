//! The HTTP contract, in process: the router of an `App` on a temporary SQLite database
//! and local stores, driven with `tower::ServiceExt::oneshot` (no sockets, no binary).
//! Statuses, JSON error bodies, challenges, and who may use which route. What needs the
//! real `composer`, git servers or storage servers is tested end to end elsewhere.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common::git::GitRepo;
use crate::common::in_process::{InProcess, Reply, Staffed};
use crate::common::package_zip;
use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine;
use packyard::db::Role;
use packyard::git_packages::AddRequest;
use serde_json::{Value, json};

/// An app with one user of each kind (`Staffed`) and a config file defining mirrors
/// whose upstream refuses connections (127.0.0.1:1): `up` (private), `open` (public),
/// `tight` (strict).
type TestApp = Staffed;

impl Staffed {
    async fn start(extra: &[(&str, &str)]) -> TestApp {
        let upstream = "http://127.0.0.1:1";
        let mirrors = json!({"mirrors": {
            "packagist": false,
            "up": {"url": upstream},
            "open": {"url": upstream, "public_access": true},
            "tight": {"url": upstream, "strict": true},
        }});
        Staffed::open("http-routes", &mirrors, extra).await
    }

    /// `method path` with a Bearer `token` and a JSON `body` (`Value::Null`: none).
    async fn bearer(&self, method: Method, path: &str, token: &str, body: &Value) -> Reply {
        let body = if body.is_null() {
            Body::empty()
        } else {
            Body::from(body.to_string())
        };
        let authorization = format!("Bearer {token}");
        self.inner
            .send(method, path, Some(&authorization), body)
            .await
    }
}

impl Reply {
    /// An error answer: `{"status":"error","message":...}` with a message.
    fn assert_error(&self, status: StatusCode, context: &str) {
        assert_eq!(
            self.status,
            status,
            "{context}: {}",
            String::from_utf8_lossy(&self.body)
        );
        let json = self.json();
        assert_eq!(json["status"], "error", "{context}: {json}");
        assert!(
            json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{context}: {json}"
        );
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(
                self.headers
                    .get(header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok()),
                Some("Basic realm=\"packyard\""),
                "{context}: a 401 asks for Basic credentials"
            );
        }
    }
}

fn basic(user: &str, token: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"));
    format!("Basic {encoded}")
}

/// What one route answers to each caller: anonymous, a plain user, a maintainer, an
/// admin (`None`: not checked, e.g. when the answer depends on a body the route reads).
struct Expect {
    method: Method,
    path: &'static str,
    body: &'static str,
    anonymous: u16,
    reader: Option<u16>,
    /// A plain user whose groups grant nothing.
    customer: Option<u16>,
    maintainer: Option<u16>,
    admin: Option<u16>,
}

fn route(method: Method, path: &'static str, body: &'static str) -> Expect {
    Expect {
        method,
        path,
        body,
        anonymous: 401,
        reader: None,
        customer: None,
        maintainer: None,
        admin: None,
    }
}

impl Expect {
    fn anonymous(mut self, status: u16) -> Self {
        self.anonymous = status;
        self
    }
    fn reader(mut self, status: u16) -> Self {
        self.reader = Some(status);
        self
    }
    fn customer(mut self, status: u16) -> Self {
        self.customer = Some(status);
        self
    }
    fn maintainer(mut self, status: u16) -> Self {
        self.maintainer = Some(status);
        self
    }
    fn admin(mut self, status: u16) -> Self {
        self.admin = Some(status);
        self
    }
}

const HOOK: &str = r#"{"repository":{"url":"https://git.example.com/acme/none.git"}}"#;

#[tokio::test]
async fn every_route_answers_each_role_as_documented() {
    let app = TestApp::start(&[]).await;
    let get = || Method::GET;
    let post = || Method::POST;
    let table = [
        route(get(), "/packages.json", "").reader(200).customer(200),
        route(get(), "/p2/acme/none.json", "")
            .reader(404)
            .customer(404),
        route(get(), "/p2/acme/none~dev.json", "").reader(404),
        route(get(), "/p2/acme/none.txt", "").reader(404),
        route(get(), "/zipball/acme/none/abc.zip", "").reader(404),
        route(post(), "/downloads/", r#"{"downloads":[]}"#)
            .reader(200)
            .customer(200),
        route(post(), "/downloads/", "not json").reader(400),
        route(get(), "/api/jobs/1", "").reader(404).customer(404),
        route(
            Method::PUT,
            "/api/packages/upload/acme/lib/1.0.0",
            "not a zip",
        )
        .reader(403)
        .maintainer(403)
        .admin(400),
        route(post(), "/api/create-package", "{}")
            .reader(403)
            .maintainer(400)
            .admin(400),
        route(post(), "/api/update-package", HOOK)
            .reader(403)
            .maintainer(404)
            .admin(404),
        route(post(), "/api/github", HOOK)
            .reader(403)
            .maintainer(404),
        route(post(), "/api/gitlab", HOOK)
            .reader(403)
            .maintainer(404),
        route(post(), "/api/gitea", HOOK)
            .reader(403)
            .maintainer(404),
        route(
            post(),
            "/api/bitbucket",
            r#"{"repository":{"full_name":"acme/none"}}"#,
        )
        .reader(403)
        .maintainer(404),
        route(
            post(),
            "/api/mirrors/up/approve",
            r#"{"packages":["acme/lib"]}"#,
        )
        .reader(403)
        .maintainer(403)
        .admin(200),
        route(
            post(),
            "/api/mirrors/up/approve",
            r#"{"packages":["Not A Name"]}"#,
        )
        .admin(400),
        route(post(), "/api/mirrors/nope/approve", r#"{"packages":[]}"#).admin(404),
        // The upstream refuses connections: past the credentials, a 502 naming it.
        route(get(), "/mirror/up/packages.json", "")
            .reader(502)
            .customer(404),
        route(get(), "/mirror/up/p2/acme/lib.json", "").reader(502),
        route(get(), "/mirror/up/zipball/acme/lib/1.0.0.0/abc.zip", "").reader(502),
        route(get(), "/mirror/up/zipball/acme/lib/1.0.0.0/abc.z%2Fp", "").reader(400),
        route(get(), "/mirror/open/p2/acme/lib.json", "")
            .anonymous(502)
            .reader(502)
            .customer(502),
        route(get(), "/mirror/tight/p2/acme/lib.json", "").reader(404),
        // Anonymous callers cannot tell unknown aliases from private mirrors.
        route(get(), "/mirror/nope/packages.json", "").reader(404),
        route(get(), "/api/users", "")
            .reader(403)
            .customer(403)
            .maintainer(403)
            .admin(200),
        route(post(), "/api/users", "{}")
            .reader(403)
            .maintainer(403)
            .admin(400),
        route(get(), "/api/user/999", "").reader(403).admin(404),
        route(Method::DELETE, "/api/user/999", "")
            .reader(403)
            .admin(404),
        route(get(), "/api/groups", "")
            .reader(403)
            .maintainer(403)
            .admin(200),
        route(post(), "/api/groups", "{}").reader(403).admin(400),
        route(Method::PUT, "/api/group/999", "{}")
            .reader(403)
            .admin(404),
        route(get(), "/api/subrepos", "")
            .reader(403)
            .maintainer(403)
            .admin(200),
        route(post(), "/api/subrepos", "{}")
            .reader(403)
            .maintainer(403)
            .admin(400),
        route(get(), "/api/subrepo/none", "").reader(403).admin(404),
        route(Method::PUT, "/api/subrepo/none", "{}")
            .reader(403)
            .admin(404),
        route(Method::DELETE, "/api/subrepo/none", "")
            .reader(403)
            .admin(404),
        // An unknown sub-repository is a 404 for anyone with credentials.
        route(get(), "/none/packages.json", "")
            .reader(404)
            .customer(404)
            .admin(404),
        route(get(), "/zipball/acme/none/1.0.0.0/abc.zip", "").reader(404),
        route(get(), "/zipball/acme/none/1.0.0.0/abc.z%2Fp", "").reader(400),
        route(get(), "/api/tokens", "")
            .reader(200)
            .customer(200)
            .admin(200),
        route(post(), "/api/tokens", "{}").reader(400).customer(400),
        route(Method::DELETE, "/api/tokens/none", "")
            .reader(404)
            .customer(404),
        route(get(), "/api/packages", "").reader(200).customer(200),
        route(get(), "/api/packages/acme/none", "")
            .reader(404)
            .customer(404),
        route(get(), "/api/healthz", "").anonymous(200).reader(200),
        route(post(), "/api/security-advisories/", "packages[]=acme/lib")
            .anonymous(401)
            .reader(200)
            .customer(200),
        route(get(), "/api/security-advisories/", "").reader(400),
        // The upstream refuses connections: a name never asked about is a 502.
        route(
            post(),
            "/mirror/up/api/security-advisories/",
            "packages[]=psr/log",
        )
        .reader(502)
        .customer(404),
        route(get(), "/packages/list.json", "")
            .anonymous(401)
            .reader(200)
            .customer(200),
        route(get(), "/search.json?q=lib", "")
            .reader(200)
            .customer(200),
        route(get(), "/packages/acme/none/stats.json", "")
            .reader(404)
            .customer(404),
        route(get(), "/packages/acme/none/stats/all.json", "").reader(404),
        route(post(), "/mirror/up/downloads/", r#"{"downloads":[]}"#)
            .reader(200)
            .customer(404),
        route(get(), "/api/advisories", "")
            .reader(403)
            .maintainer(403)
            .admin(200),
        route(post(), "/api/advisories", "{}")
            .reader(403)
            .maintainer(403)
            .admin(400),
        route(Method::DELETE, "/api/advisories/PKYSA-none", "")
            .reader(403)
            .admin(404),
        route(get(), "/api/webhooks", "")
            .reader(403)
            .maintainer(403)
            .admin(200),
        route(post(), "/api/webhooks", "{}")
            .reader(403)
            .maintainer(403)
            .admin(400),
        route(Method::DELETE, "/api/webhooks/none", "")
            .reader(403)
            .admin(404),
        route(get(), "/api/webhooks/none/deliveries", "")
            .reader(403)
            .admin(404),
        route(post(), "/api/webhooks/deliveries/none/redeliver", "")
            .reader(403)
            .admin(404),
        route(get(), "/no/such/route", "")
            .anonymous(404)
            .reader(404),
    ];
    for expect in &table {
        let callers = [
            (None, Some(expect.anonymous)),
            (Some("reader"), expect.reader),
            (Some("customer"), expect.customer),
            (Some("maintainer"), expect.maintainer),
            (Some("admin"), expect.admin),
        ];
        for (user, status) in callers {
            let Some(status) = status else { continue };
            let context = format!(
                "{} {} as {}",
                expect.method,
                expect.path,
                user.unwrap_or("anonymous")
            );
            let reply = app
                .send_as(&expect.method, expect.path, user, Body::from(expect.body))
                .await;
            let status = StatusCode::from_u16(status).unwrap();
            if status.is_success() {
                assert_eq!(
                    reply.status,
                    status,
                    "{context}: {}",
                    String::from_utf8_lossy(&reply.body)
                );
                reply.json();
            } else {
                reply.assert_error(status, &context);
            }
        }
    }
    // Admins approved acme/lib for `up` above; the strict mirror still refuses it.
    assert!(
        app.app
            .db
            .is_mirrored_package_approved("up", "acme/lib")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn wrong_credentials_are_refused_even_where_anonymous_reads_are_allowed() {
    let app = TestApp::start(&[("PUBLIC_ACCESS", "1")]).await;
    let anonymous = app
        .send_as(&Method::GET, "/packages.json", None, Body::empty())
        .await;
    assert_eq!(anonymous.status, StatusCode::OK);
    assert_eq!(
        anonymous.json()["metadata-url"],
        "http://repo.test/p2/%package%.json"
    );
    let token = app.token("reader").to_owned();
    for (what, authorization, query) in [
        ("a wrong token", Some(basic("reader", "wrong")), ""),
        (
            "an unknown user with an old-style token",
            Some(basic("nobody", &"ab".repeat(32))),
            "",
        ),
        ("a mistyped token", Some(basic("reader", &token[1..])), ""),
        (
            "a Bearer old-style token",
            Some(format!("Bearer {}", "ab".repeat(32))),
            "",
        ),
        ("a wrong query token", None, "?token=reader:wrong"),
        ("a query token without user", None, "?token=justatoken"),
        ("a wrong apiToken", None, "?username=reader&apiToken=wrong"),
    ] {
        let mut request = Request::get(format!("/packages.json{query}")).header(header::HOST, "h");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let reply = app.call(request.body(Body::empty()).unwrap()).await;
        reply.assert_error(StatusCode::UNAUTHORIZED, what);
    }
    // A pky_ token names its owner: any user name goes with it, and Bearer too.
    let bearer = Request::get("/packages.json")
        .header(header::HOST, "h")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.call(bearer).await.status, StatusCode::OK);
    for query in [
        format!("?token=reader:{token}"),
        format!("?token=whoever:{token}"),
        format!("?token={token}"),
        format!("?username=reader&apiToken={token}"),
    ] {
        let request = Request::get(format!("/packages.json{query}"))
            .header(header::HOST, "h")
            .body(Body::empty())
            .unwrap();
        assert_eq!(app.call(request).await.status, StatusCode::OK, "{query}");
    }
    // Public reads do not reach the management API.
    let upload = app
        .send_as(
            &Method::PUT,
            "/api/packages/upload/acme/lib/1.0.0",
            None,
            Body::from("zip"),
        )
        .await;
    upload.assert_error(StatusCode::UNAUTHORIZED, "anonymous upload");
}

/// A body that records whether anybody read it.
fn watched_body(read: &Arc<AtomicBool>) -> Body {
    let read = read.clone();
    let chunks = futures_util::stream::once(async move {
        read.store(true, Ordering::SeqCst);
        Ok::<_, std::io::Error>(Bytes::from_static(br#"{"downloads":[]}"#))
    });
    Body::from_stream(chunks)
}

#[tokio::test]
async fn credentials_are_checked_before_any_body_is_read() {
    let app = TestApp::start(&[]).await;
    for (method, path, user, status) in [
        (Method::POST, "/api/create-package", None, 401),
        (Method::POST, "/api/create-package", Some("reader"), 403),
        (
            Method::POST,
            "/api/mirrors/up/approve",
            Some("maintainer"),
            403,
        ),
        (
            Method::PUT,
            "/api/packages/upload/acme/lib/1.0.0",
            Some("maintainer"),
            403,
        ),
        (Method::POST, "/api/update-package", None, 401),
        (Method::POST, "/api/github", Some("reader"), 403),
        (Method::POST, "/downloads/", None, 401),
    ] {
        let read = Arc::new(AtomicBool::new(false));
        let reply = app.send_as(&method, path, user, watched_body(&read)).await;
        let context = format!("{method} {path} as {user:?}");
        reply.assert_error(StatusCode::from_u16(status).unwrap(), &context);
        assert!(!read.load(Ordering::SeqCst), "{context}: the body was read");
    }
    // A signed hook is read, so that its signature can be checked.
    let read = Arc::new(AtomicBool::new(false));
    let request = Request::post("/api/github")
        .header(header::HOST, "h")
        .header("x-hub-signature-256", "sha256=00")
        .body(watched_body(&read))
        .unwrap();
    let reply = app.call(request).await;
    reply.assert_error(
        StatusCode::BAD_REQUEST,
        "a signed hook without a repository",
    );
    assert!(read.load(Ordering::SeqCst));
    // A signed hook for an unknown repository answers like a wrong signature.
    let signed = Request::post("/api/github")
        .header(header::HOST, "h")
        .header("x-hub-signature-256", "sha256=00")
        .body(Body::from(HOOK))
        .unwrap();
    let unknown = app.call(signed).await;
    unknown.assert_error(
        StatusCode::UNAUTHORIZED,
        "a signed hook for an unknown repository",
    );
    assert!(String::from_utf8_lossy(&unknown.body).contains("signature does not match"));
}

#[tokio::test]
async fn no_web_route_reads_an_anonymous_body() {
    let app = TestApp::start(&[]).await;
    // Every route of the web UI, as it is and with any method that may carry a body,
    // so that a form route added later is covered without being listed here.
    let routes = packyard::web::routes();
    assert!(routes.templates().len() > 20, "{:?}", routes.templates());
    for template in routes.templates() {
        let path: String = template
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "x"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let read = Arc::new(AtomicBool::new(false));
            let reply = app.send_as(&method, &path, None, watched_body(&read)).await;
            let context = format!("{method} {path} ({template})");
            assert!(!reply.status.is_success(), "{context}: {}", reply.status);
            assert!(!read.load(Ordering::SeqCst), "{context}: the body was read");
        }
    }
}

#[tokio::test]
async fn a_key_file_that_cannot_be_written_is_a_server_fault() {
    let app = TestApp::start(&[("PACKYARD_SECRET", "correct horse battery staple")]).await;
    // The VCS cache's `keys` folder cannot be created: a file is in its way.
    let cache = app.data.path().join("vcs");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("keys"), "in the way").unwrap();
    let request = json!({"repository": {
        "url": "ssh://git@127.0.0.1:1/acme/lib.git",
        "credentials": {"ssh_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n"},
    }});
    let reply = app
        .send_as(
            &Method::POST,
            "/api/create-package",
            Some("maintainer"),
            Body::from(request.to_string()),
        )
        .await;
    reply.assert_error(StatusCode::INTERNAL_SERVER_ERROR, "key file");
    let message = reply.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("see the server log"), "{message}");
}

/// A git package with one tag, added in process.
async fn git_package(app: &TestApp) -> (GitRepo, String) {
    tagged_git_package(app, "acme/built", AddRequest::default()).await
}

/// A local repository whose composer.json names `name`, with one commit tagged 1.0.0,
/// added as a git package with `request`'s settings (its URL and `allow_local` filled
/// in); the repository and the commit.
async fn tagged_git_package(app: &TestApp, name: &str, request: AddRequest) -> (GitRepo, String) {
    let repo = GitRepo::new();
    repo.write("composer.json", &json!({"name": name}).to_string());
    let commit = repo.commit("first");
    repo.git(&["tag", "1.0.0"]);
    app.app
        .git_packages
        .add(AddRequest {
            url: repo.url(),
            allow_local: true,
            ..request
        })
        .await
        .unwrap();
    (repo, commit)
}

#[tokio::test]
async fn failing_dist_builds_are_server_faults_not_the_callers() {
    testkit::needs!(Git);
    let app = TestApp::start(&[]).await;
    let (repo, commit) = git_package(&app).await;
    let zipball = format!("/zipball/acme/built/{commit}.zip");

    // The scratch directory cannot be created: a disk fault, 500.
    let scratch = app.data.path().join("tmp");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::write(&scratch, "in the way").unwrap();
    let reply = app
        .send_as(&Method::GET, &zipball, Some("reader"), Body::empty())
        .await;
    reply.assert_error(StatusCode::INTERNAL_SERVER_ERROR, "scratch dir");
    std::fs::remove_file(&scratch).unwrap();

    // The repository and its mirror are gone: git cannot give the commit, 502, and
    // git's words stay in the log.
    drop(repo);
    std::fs::remove_dir_all(app.data.path().join("vcs")).unwrap();
    let reply = app
        .send_as(&Method::GET, &zipball, Some("reader"), Body::empty())
        .await;
    reply.assert_error(StatusCode::BAD_GATEWAY, "repository gone");
    let message = reply.json()["message"].as_str().unwrap().to_owned();
    assert!(
        !message.contains("fatal"),
        "git's text is not echoed: {message}"
    );
}

#[tokio::test]
async fn a_built_dist_is_served_with_its_length() {
    testkit::needs!(Git);
    let app = TestApp::start(&[]).await;
    let (_repo, commit) = git_package(&app).await;
    let reply = app
        .send_as(
            &Method::GET,
            &format!("/zipball/acme/built/{commit}.zip"),
            Some("reader"),
            Body::empty(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/zip");
    assert_eq!(
        reply.headers[header::CONTENT_LENGTH],
        reply.body.len().to_string().as_str()
    );
    assert!(reply.body.starts_with(b"PK"));
}

#[tokio::test]
async fn the_access_api_manages_users_groups_tokens_and_lists_what_callers_see() {
    let app = TestApp::start(&[]).await;
    let admin = app.token("admin").to_owned();
    for version in ["1.0.0", "1.1.0", "2.0.0"] {
        let zip = crate::common::package_zip("acme/lib", &[], version);
        let path = format!("/api/packages/upload/acme/lib/{version}");
        let reply = app
            .send_as(&Method::PUT, &path, Some("admin"), Body::from(zip))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }

    let group = app
        .bearer(
            Method::POST,
            "/api/groups",
            &admin,
            &json!({"name": "licensed", "aclPermissions": [{"name": "acme/lib", "version": "^1.0"}], "proxies": ["up"]}),
        )
        .await;
    assert_eq!(
        group.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&group.body)
    );
    let group_id = group.json()["id"].as_i64().unwrap();
    assert_eq!(group.json()["aclPermissions"][0]["version"], "^1.0");
    let bad = app
        .bearer(
            Method::POST,
            "/api/groups",
            &admin,
            &json!({"name": "x", "aclPermissions": [{"name": "acme/lib", "version": "^^"}]}),
        )
        .await;
    bad.assert_error(StatusCode::BAD_REQUEST, "an invalid constraint");

    let carol = app
        .bearer(
            Method::POST,
            "/api/users",
            &admin,
            &json!({"username": "carol", "groups": [group_id]}),
        )
        .await;
    assert_eq!(
        carol.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&carol.body)
    );
    let carol_id = carol.json()["id"].as_i64().unwrap();
    let carol_token = carol.json()["apiToken"].as_str().unwrap().to_owned();
    assert!(carol_token.starts_with("pky_"));
    app.refresh_access().await;

    // Carol sees acme/lib 1.x only, through every door.
    let listed = app
        .bearer(Method::GET, "/api/packages", &carol_token, &Value::Null)
        .await;
    assert_eq!(listed.json()["packageNames"], json!(["acme/lib"]));
    let package = app
        .bearer(
            Method::GET,
            "/api/packages/acme/lib",
            &carol_token,
            &Value::Null,
        )
        .await;
    let mut versions: Vec<String> = package.json()["package"]["versions"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    versions.sort();
    assert_eq!(versions, ["1.0.0", "1.1.0"]);
    let p2 = app
        .bearer(Method::GET, "/p2/acme/lib.json", &carol_token, &Value::Null)
        .await;
    assert!(!String::from_utf8_lossy(&p2.body).contains("2.0.0"));
    let mirror = app
        .bearer(
            Method::GET,
            "/mirror/up/packages.json",
            &carol_token,
            &Value::Null,
        )
        .await;
    mirror.assert_error(StatusCode::BAD_GATEWAY, "a mirror carol's group lists");

    // Her own tokens: create, list, use within its scope, revoke.
    let created = app
        .bearer(
            Method::POST,
            "/api/tokens",
            &carol_token,
            &json!({"name": "ci", "scopes": ["metadata"], "expires": "30d"}),
        )
        .await;
    assert_eq!(
        created.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let ci = created.json()["token"].as_str().unwrap().to_owned();
    let names: Vec<String> = app
        .bearer(Method::GET, "/api/tokens", &carol_token, &Value::Null)
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["ci", "default"]);
    assert_eq!(
        app.bearer(Method::GET, "/p2/acme/lib.json", &ci, &Value::Null)
            .await
            .status,
        StatusCode::OK
    );
    app.bearer(Method::GET, "/api/tokens", &ci, &Value::Null)
        .await
        .assert_error(StatusCode::FORBIDDEN, "a metadata token managing tokens");
    app.bearer(
        Method::POST,
        "/api/tokens",
        &carol_token,
        &json!({"name": "root", "scopes": ["users"]}),
    )
    .await
    .assert_error(
        StatusCode::FORBIDDEN,
        "a customer minting an admin-scoped token",
    );
    let revoked = app
        .bearer(Method::DELETE, "/api/tokens/ci", &carol_token, &Value::Null)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    app.refresh_access().await;
    app.bearer(Method::GET, "/p2/acme/lib.json", &ci, &Value::Null)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "a revoked token");

    // Widening the grant shows 2.0.0, also to a client asking If-Modified-Since the
    // narrower document's date.
    let narrower = p2.headers[header::LAST_MODIFIED]
        .to_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/group/{group_id}");
    let widened = app
        .bearer(
            Method::PUT,
            &path,
            &admin,
            &json!({"aclPermissions": ["acme/lib"]}),
        )
        .await;
    assert_eq!(widened.status, StatusCode::OK);
    app.refresh_access().await;
    let request = Request::get("/p2/acme/lib.json")
        .header(header::HOST, "repo.test")
        .header(header::AUTHORIZATION, format!("Bearer {carol_token}"))
        .header(header::IF_MODIFIED_SINCE, &narrower)
        .body(Body::empty())
        .unwrap();
    let p2 = app.call(request).await;
    assert_eq!(p2.status, StatusCode::OK, "not a 304 for the narrower copy");
    assert!(String::from_utf8_lossy(&p2.body).contains("2.0.0"));

    // Users: listed with their groups, expired, removed; admins are not edited here.
    let users = app
        .bearer(Method::GET, "/api/users", &admin, &Value::Null)
        .await
        .json();
    let listed = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "carol")
        .unwrap()
        .clone();
    assert_eq!(listed["groups"], json!([group_id]));
    let user_path = format!("/api/user/{carol_id}");
    let expired = app
        .bearer(
            Method::PUT,
            &user_path,
            &admin,
            &json!({"expiresAt": "2000-01-01"}),
        )
        .await;
    assert_eq!(expired.json()["expiresAt"], "2000-01-02T00:00:00+00:00");
    app.refresh_access().await;
    let refused = app
        .bearer(Method::GET, "/packages.json", &carol_token, &Value::Null)
        .await;
    refused.assert_error(StatusCode::UNAUTHORIZED, "an expired account");
    assert!(String::from_utf8_lossy(&refused.body).contains("expired"));
    let me = app
        .app
        .db
        .users()
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.name == "admin")
        .unwrap();
    app.bearer(
        Method::PUT,
        &format!("/api/user/{}", me.id),
        &admin,
        &json!({"fullAccess": true}),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "editing yourself");
    for path in [user_path, path] {
        let deleted = app
            .bearer(Method::DELETE, &path, &admin, &Value::Null)
            .await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{path}");
        app.bearer(Method::GET, &path, &admin, &Value::Null)
            .await
            .assert_error(StatusCode::NOT_FOUND, "deleted");
    }
}

/// `method path` as the admin with these extra headers and `body`, which records
/// whether it was read.
async fn admin_write(
    app: &TestApp,
    method: &Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &'static str,
    read: &Arc<AtomicBool>,
) -> Reply {
    let mut request = Request::builder()
        .method(method.clone())
        .uri(path)
        .header(header::HOST, "repo.test")
        .header(header::AUTHORIZATION, basic("admin", app.token("admin")));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let read = read.clone();
    let chunks = futures_util::stream::once(async move {
        read.store(true, Ordering::SeqCst);
        Ok::<_, std::io::Error>(Bytes::from_static(body.as_bytes()))
    });
    app.call(request.body(Body::from_stream(chunks)).unwrap())
        .await
}

/// What `<input name='{"name":"evil","url":"https://attacker.example/h","events":["new_release"],"x":"' value='"}'>`
/// makes a text/plain form send.
const FORM_AS_JSON: &str =
    r#"{"name":"evil","url":"https://attacker.example/h","events":["new_release"],"x":"="}"#;

/// The attack: a page on another site posts a `<form enctype="text/plain">` whose body
/// is JSON to the API, and the browser adds the Basic credentials it cached. Refused
/// by where it comes from (`Origin`, `Sec-Fetch-Site`) and by its type, before the
/// body is read; the same body sent as JSON by a client that is not a browser works.
#[tokio::test]
async fn cross_site_writes_and_bodies_that_are_not_json_are_refused_before_the_body() {
    let app = TestApp::start(&[("PACKYARD_SECRET", "routes test secret")]).await;
    let text_plain = ("content-type", "text/plain");
    let json = ("content-type", "application/json");
    let foreign = ("origin", "https://attacker.example");
    for (headers, status) in [
        (vec![text_plain, foreign], StatusCode::FORBIDDEN),
        (vec![json, foreign], StatusCode::FORBIDDEN),
        (vec![json, ("origin", "null")], StatusCode::FORBIDDEN),
        (
            vec![json, ("sec-fetch-site", "cross-site")],
            StatusCode::FORBIDDEN,
        ),
        (
            vec![json, ("sec-fetch-site", "same-site")],
            StatusCode::FORBIDDEN,
        ),
        (vec![text_plain], StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (
            vec![("content-type", "application/x-www-form-urlencoded")],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            vec![("content-type", "multipart/form-data; boundary=x")],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (vec![], StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ] {
        let read = Arc::new(AtomicBool::new(false));
        let reply = admin_write(
            &app,
            &Method::POST,
            "/api/webhooks",
            &headers,
            FORM_AS_JSON,
            &read,
        )
        .await;
        let context = format!("POST /api/webhooks with {headers:?}");
        reply.assert_error(status, &context);
        assert!(!read.load(Ordering::SeqCst), "{context}: the body was read");
    }
    let hooks = app
        .send_as(&Method::GET, "/api/webhooks", Some("admin"), Body::empty())
        .await;
    assert_eq!(hooks.json()["webhooks"], json!([]), "{}", hooks.text());

    // Every JSON write answers the same way; a DELETE or a bodiless POST from another
    // site too (a browser preflights the DELETE, but refusing costs nothing).
    let writes = [
        (
            Method::POST,
            "/api/create-package",
            r#"{"repository":{"url":"https://git.example.com/a/b.git"}}"#,
        ),
        (Method::POST, "/api/users", r#"{"username":"mallory"}"#),
        (Method::PUT, "/api/user/1", r#"{"isAdmin":true}"#),
        (
            Method::POST,
            "/api/groups",
            r#"{"name":"g","aclPermissions":[]}"#,
        ),
        (Method::PUT, "/api/group/1", r#"{"name":"g"}"#),
        (Method::POST, "/api/tokens", r#"{"name":"t"}"#),
        (
            Method::POST,
            "/api/advisories",
            r#"{"package":"acme/lib","affectedVersions":"<2","title":"t"}"#,
        ),
        (
            Method::POST,
            "/api/mirrors/up/approve",
            r#"{"packages":["acme/lib"]}"#,
        ),
        (Method::POST, "/api/update-package", HOOK),
        (Method::POST, "/api/github", HOOK),
    ];
    for (method, path, body) in writes {
        for (headers, status) in [
            (vec![json, foreign], StatusCode::FORBIDDEN),
            (vec![text_plain], StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ] {
            let read = Arc::new(AtomicBool::new(false));
            let reply = admin_write(&app, &method, path, &headers, body, &read).await;
            let context = format!("{method} {path} with {headers:?}");
            reply.assert_error(status, &context);
            assert!(!read.load(Ordering::SeqCst), "{context}: the body was read");
        }
    }
    for (method, path) in [
        (Method::POST, "/api/webhooks/deliveries/1/redeliver"),
        (Method::DELETE, "/api/webhooks/none"),
        (Method::DELETE, "/api/tokens/none"),
        (Method::POST, "/downloads/"),
        (Method::POST, "/logout"),
    ] {
        let read = Arc::new(AtomicBool::new(false));
        let reply = admin_write(&app, &method, path, &[foreign], "", &read).await;
        reply.assert_error(StatusCode::FORBIDDEN, &format!("{method} {path}"));
    }
    // A browser that asks for a page gets the refusal as one.
    let read = Arc::new(AtomicBool::new(false));
    let page = admin_write(
        &app,
        &Method::POST,
        "/logout",
        &[foreign, ("accept", "text/html")],
        "",
        &read,
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.text().contains("another site"), "{}", page.text());

    // Clients that are not browsers send no Origin: the same hook as JSON is created,
    // and an Origin naming this host is its own page's.
    for (name, headers) in [
        ("ci", vec![json]),
        ("own-page", vec![json, ("origin", "http://repo.test")]),
    ] {
        let body: &'static str = if name == "ci" {
            r#"{"name":"ci","url":"https://hooks.example/h","events":["new_release"]}"#
        } else {
            r#"{"name":"own-page","url":"https://hooks.example/h","events":["new_release"]}"#
        };
        let read = Arc::new(AtomicBool::new(false));
        let reply = admin_write(&app, &Method::POST, "/api/webhooks", &headers, body, &read).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{name}: {}",
            reply.text()
        );
    }
}

/// Every answer says its type is what it says (`nosniff`); over https, answers also
/// pin https for a year (HSTS); over plain http they do not.
#[tokio::test]
async fn answers_carry_nosniff_and_hsts_only_over_https() {
    let plain = TestApp::start(&[]).await;
    let https = TestApp::start(&[("PACKYARD_PUBLIC_URL", "https://repo.example")]).await;
    for (app, hsts) in [(&plain, None), (&https, Some("max-age=31536000"))] {
        for (path, user) in [
            ("/packages.json", Some("admin")),
            ("/p2/acme/none.json", Some("admin")),
            ("/zipball/acme/none/abc.zip", Some("admin")),
            ("/login", None),
            ("/no/such/route", None),
        ] {
            let reply = app.send_as(&Method::GET, path, user, Body::empty()).await;
            let header = |name| {
                reply
                    .headers
                    .get(name)
                    .map(|value: &axum::http::HeaderValue| value.to_str().unwrap().to_owned())
            };
            assert_eq!(
                header(header::X_CONTENT_TYPE_OPTIONS).as_deref(),
                Some("nosniff"),
                "{path}"
            );
            assert_eq!(
                header(header::STRICT_TRANSPORT_SECURITY).as_deref(),
                hsts,
                "{path}"
            );
        }
    }
    // Behind a proxy that terminates TLS (no public URL), the proxy's word counts.
    let request = Request::get("/packages.json")
        .header(header::HOST, "repo.test")
        .header("x-forwarded-proto", "https")
        .header(header::AUTHORIZATION, basic("admin", plain.token("admin")))
        .body(Body::empty())
        .unwrap();
    let reply = plain.call(request).await;
    assert!(
        reply
            .headers
            .contains_key(header::STRICT_TRANSPORT_SECURITY)
    );
}

/// A database failure is a 503 that says what failed, not what the driver said
/// (table names, hosts and users stay in the log).
#[tokio::test]
async fn database_errors_are_not_echoed_to_clients() {
    let app = TestApp::start(&[]).await;
    app.tamper("DROP TABLE webhooks");
    let reply = app
        .send_as(&Method::GET, "/api/webhooks", Some("admin"), Body::empty())
        .await;
    reply.assert_error(StatusCode::SERVICE_UNAVAILABLE, "a table is gone");
    let text = reply.text();
    assert!(text.contains("database unavailable"), "{text}");
    for leaked in ["webhooks", "no such table", "sqlite", "code:"] {
        assert!(!text.to_lowercase().contains(leaked), "{leaked}: {text}");
    }
}

/// The attack: someone who can write to the database but does not know
/// `PACKYARD_SECRET` copies the sealed push-webhook secret of a package whose secret
/// they know (their own) into another package's row, to trigger that package's
/// re-scans with hooks they sign. Sealed values are bound to their row: the copy does
/// not open there, so the hook is refused like any wrong signature.
#[tokio::test]
async fn a_sealed_secret_copied_into_another_row_does_not_open_there() {
    use hmac::{Hmac, Mac};
    testkit::needs!(Git);
    let app = TestApp::start(&[("PACKYARD_SECRET", "routes test secret")]).await;
    let mut repositories = Vec::new();
    for (name, secret) in [
        ("acme/mine", "mine-0123456789"),
        ("acme/victim", "victim-0123456789"),
    ] {
        let settings = AddRequest {
            webhook_secret: Some(secret.to_owned()),
            ..AddRequest::default()
        };
        repositories.push(tagged_git_package(&app, name, settings).await.0);
    }
    let hook = |repo: &GitRepo, secret: &str| {
        let body = json!({"repository": {"clone_url": repo.url()}}).to_string();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        Request::post("/api/github")
            .header(header::HOST, "repo.test")
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-github-event", "push")
            .header("x-hub-signature-256", signature)
            .body(Body::from(body))
            .unwrap()
    };
    let victim = &repositories[1];
    assert_eq!(
        app.call(hook(victim, "victim-0123456789")).await.status,
        StatusCode::ACCEPTED
    );
    app.tamper("UPDATE packages SET webhook_secret = (SELECT webhook_secret FROM packages WHERE name = 'acme/mine') WHERE name = 'acme/victim'");
    let forged = app.call(hook(victim, "mine-0123456789")).await;
    forged.assert_error(
        StatusCode::UNAUTHORIZED,
        "a hook signed with the copied secret",
    );
    // The package the secret belongs to still takes it.
    assert_eq!(
        app.call(hook(&repositories[0], "mine-0123456789"))
            .await
            .status,
        StatusCode::ACCEPTED
    );
}

/// The attack: someone who can write to the database points a private package's
/// repository URL at their own server, so that the next scan sends the package's
/// credentials there. Credentials are sealed for the URL they were given with: they
/// no longer open, and the scan fails before git connects anywhere.
#[tokio::test]
async fn credentials_do_not_open_for_a_repository_url_changed_in_the_database() {
    testkit::needs!(Git);
    let app = TestApp::start(&[("PACKYARD_SECRET", "routes test secret")]).await;
    let settings = AddRequest {
        credentials: Some(packyard::git_packages::Credentials {
            username: Some("bot".to_owned()),
            password: Some("s3cret-token".to_owned()),
            ssh_key: None,
        }),
        ..AddRequest::default()
    };
    // Kept until the end: the first re-scan below fetches from it.
    let (_repo, _) = tagged_git_package(&app, "acme/private", settings).await;
    app.app.git_packages.rescan("acme/private").await.unwrap();
    app.tamper("UPDATE packages SET repository_url = 'https://attacker.invalid/x.git' WHERE name = 'acme/private'");
    let error = app
        .app
        .git_packages
        .rescan("acme/private")
        .await
        .expect_err("a scan with credentials that do not open");
    assert!(
        matches!(error, packyard::git_packages::GitPackageError::Secret(_)),
        "{error}"
    );
}

/// `Last-Modified` and `If-Modified-Since` on a package's metadata, and the `~dev` and
/// unknown documents beside it.
#[tokio::test]
async fn metadata_answers_304_when_unchanged() {
    const LIB: &str = "acme/lib";
    let app = InProcess::open("metadata-304", &json!({}), &[]).await;
    let admin = app.add_user("admin", Role::Admin, false).await;
    let zip = crate::common::package_zip(LIB, &[], "a");
    assert_eq!(
        app.upload(&admin, LIB, "1.0.0", &zip).await.status,
        StatusCode::CREATED
    );
    let auth = basic("admin", &admin);
    let path = "/p2/acme/lib.json";

    let first = app.get(path, &[("Authorization", &auth)]).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.json()["minified"], "composer/2.0");
    let last_modified = first.header("last-modified").expect("Last-Modified");
    let cached = app
        .get(
            path,
            &[
                ("Authorization", &auth),
                ("If-Modified-Since", &last_modified),
            ],
        )
        .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    assert!(cached.body.is_empty());

    // A new version moves Last-Modified forward, so the same request gets the new document.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let zip = crate::common::package_zip(LIB, &[], "b");
    assert_eq!(
        app.upload(&admin, LIB, "1.1.0", &zip).await.status,
        StatusCode::CREATED
    );
    let changed = app
        .get(
            path,
            &[
                ("Authorization", &auth),
                ("If-Modified-Since", &last_modified),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(changed.json()["packages"][LIB].as_array().unwrap().len(), 2);

    let dev = app
        .get("/p2/acme/lib~dev.json", &[("Authorization", &auth)])
        .await;
    assert_eq!(dev.status, StatusCode::OK);
    assert_eq!(dev.json()["packages"][LIB].as_array().unwrap().len(), 0);
    let unknown = app
        .get("/p2/acme/nothing.json", &[("Authorization", &auth)])
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.json()["status"], "error");
}

/// A change made through the API counts on the next request to the same process, as
/// one made through the web UI always did: no wait for the 2 s refresher (which this
/// in-process app does not even run). The API's rules are the web UI's and the CLI's:
/// grant targets are lowercased, an unknown mirror alias is refused.
#[tokio::test]
async fn access_changes_through_the_api_count_on_the_next_request_here() {
    let app = TestApp::start(&[]).await;
    let admin = app.token("admin").to_owned();
    let customer = app.token("customer").to_owned();
    let zip = crate::common::package_zip("acme/lib", &[], "1.0.0");
    let reply = app
        .send_as(
            &Method::PUT,
            "/api/packages/upload/acme/lib/1.0.0",
            Some("admin"),
            Body::from(zip),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let seen = |token: String| {
        let app = &app;
        async move {
            app.bearer(Method::GET, "/api/packages", &token, &Value::Null)
                .await
                .json()["packageNames"]
                .clone()
        }
    };
    assert_eq!(seen(customer.clone()).await, json!([]));

    let group = app
        .bearer(
            Method::POST,
            "/api/groups",
            &admin,
            &json!({"name": "licensed", "aclPermissions": ["Acme/Lib"], "proxies": ["up"]}),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.text());
    assert_eq!(group.json()["packages"], json!(["acme/lib"]));
    let users = app
        .bearer(Method::GET, "/api/users", &admin, &Value::Null)
        .await
        .json();
    let customer_id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "customer")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let joined = app
        .bearer(
            Method::PUT,
            &format!("/api/user/{customer_id}"),
            &admin,
            &json!({"groups": [group.json()["id"]]}),
        )
        .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.text());
    // No refresh in between: the listing (which never catches up by itself) shows it.
    assert_eq!(seen(customer.clone()).await, json!(["acme/lib"]));

    // A token works at once, and once revoked is refused at once, though this process
    // had verified and remembered it.
    let created = app
        .bearer(
            Method::POST,
            "/api/tokens",
            &customer,
            &json!({"name": "ci", "scopes": ["metadata"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let ci = created.json()["token"].as_str().unwrap().to_owned();
    let p2 = |token: String| {
        let app = &app;
        async move {
            app.bearer(Method::GET, "/p2/acme/lib.json", &token, &Value::Null)
                .await
                .status
        }
    };
    assert_eq!(p2(ci.clone()).await, StatusCode::OK);
    let revoked = app
        .bearer(Method::DELETE, "/api/tokens/ci", &customer, &Value::Null)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(p2(ci).await, StatusCode::UNAUTHORIZED);

    // A mirror alias that no mirror has is refused, as by the CLI.
    app.bearer(
        Method::POST,
        "/api/groups",
        &admin,
        &json!({"name": "typo", "proxies": ["upp"]}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "an unknown mirror alias");
}

/// Packeton's push route, as the composer-push plugin and CI scripts send to it:
/// `curl -u user:token -T pkg.zip …/packages/upload/acme/pkg/1.0.0` (a raw `PUT`), and
/// `curl -u user:token -X PUT -F package=@pkg.zip -F src-type=git … ` (multipart; `POST`
/// too). Maintainers may push, as on Packeton; readers may not.
#[tokio::test]
async fn packetons_push_route_takes_a_raw_or_multipart_archive() {
    let app = TestApp::start(&[]).await;
    let send = |method: Method, path: &str, user: &str, content_type: &str, body: Vec<u8>| {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "repo.test")
            .header(header::AUTHORIZATION, basic(user, app.token(user)))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap();
        app.call(request)
    };
    let raw = package_zip("acme/pushed", &[], "raw");
    let reply = send(
        Method::PUT,
        "/packages/upload/acme/pushed/1.0.0",
        "maintainer",
        "application/zip",
        raw.clone(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_eq!(reply.json(), json!([]));
    let again = send(
        Method::PUT,
        "/packages/upload/acme/pushed/1.0.0",
        "maintainer",
        "application/zip",
        raw,
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());

    let boundary = "XyZpackeTon";
    let multipart = |archive: &[u8]| {
        let mut body = Vec::new();
        for (name, value) in [
            ("src-type", "git"),
            ("src-url", "https://git.example/acme/pushed.git"),
            ("src-ref", "0123456789abcdef"),
        ] {
            body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
        }
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"package\"; filename=\"pushed.zip\"\r\nContent-Type: application/zip\r\n\r\n").as_bytes());
        body.extend_from_slice(archive);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        body
    };
    let content_type = format!("multipart/form-data; boundary={boundary}");
    for (method, version) in [(Method::PUT, "1.1.0"), (Method::POST, "1.2.0")] {
        let archive = package_zip("acme/pushed", &[], version);
        let reply = send(
            method.clone(),
            &format!("/packages/upload/acme/pushed/{version}"),
            "admin",
            &content_type,
            multipart(&archive),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{method} {version}: {}",
            reply.text()
        );
    }
    let versions = app
        .send_as(
            &Method::GET,
            "/p2/acme/pushed.json",
            Some("admin"),
            Body::empty(),
        )
        .await
        .json();
    let listed: Vec<&str> = versions["packages"]["acme/pushed"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["version"].as_str())
        .collect();
    assert_eq!(listed, ["1.2.0", "1.1.0", "1.0.0"]);

    // Refusals: a raw POST, a multipart body without the file, a reader, a bad name.
    let zip = package_zip("acme/pushed", &[], "x");
    send(
        Method::POST,
        "/packages/upload/acme/pushed/2.0.0",
        "admin",
        "application/zip",
        zip.clone(),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "raw POST");
    let empty = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"src-type\"\r\n\r\ngit\r\n--{boundary}--\r\n"
    );
    send(
        Method::PUT,
        "/packages/upload/acme/pushed/2.0.0",
        "admin",
        &content_type,
        empty.into_bytes(),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "no package part");
    send(
        Method::PUT,
        "/packages/upload/acme/pushed/2.0.0",
        "reader",
        "application/zip",
        zip.clone(),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "a reader");
    send(
        Method::PUT,
        "/packages/upload/Acme_/pushed/2.0.0",
        "admin",
        "application/zip",
        zip,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "a bad name");
}

/// The push route's whole body is bounded by `PACKYARD_MAX_UPLOAD` (and 64 KiB for the
/// parts' headers), not only its file: multipart text fields cannot carry what an
/// archive may not.
#[tokio::test]
async fn packetons_push_route_bounds_the_whole_body() {
    let app = TestApp::start(&[("PACKYARD_MAX_UPLOAD", "65536")]).await;
    let send = |content_type: &str, body: Vec<u8>| {
        let request = Request::builder()
            .method(Method::PUT)
            .uri("/packages/upload/acme/pushed/1.0.0")
            .header(header::HOST, "repo.test")
            .header(header::AUTHORIZATION, basic("admin", app.token("admin")))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap();
        app.call(request)
    };
    let boundary = "XyZpackeTon";
    let archive = package_zip("acme/pushed", &[], "small");
    assert!(archive.len() < 16 * 1024);
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"src-url\"\r\n\r\n{}\r\n",
        "x".repeat(200 * 1024)
    )
    .into_bytes();
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"package\"; filename=\"pushed.zip\"\r\nContent-Type: application/zip\r\n\r\n").as_bytes());
    body.extend_from_slice(&archive);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    send(&format!("multipart/form-data; boundary={boundary}"), body)
        .await
        .assert_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "a multipart body over the limit",
        );
    let mut raw = archive.clone();
    raw.resize(70 * 1024, 0);
    send("application/zip", raw)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "a raw body over the limit");
    // Under the limit, the same archive is taken.
    let reply = send("application/zip", archive).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
}

/// Every version carries `published-time`, packagist.org's field for when the
/// repository published it: set at the first publication, kept for a tag whatever its
/// commit's date says, moved for a branch with each new commit.
#[tokio::test]
async fn versions_carry_the_time_packyard_published_them() {
    testkit::needs!(Git);
    let repo = TestApp::start(&[]).await;
    let published = |reply: &Reply, package: &str, version: &str| -> String {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        crate::common::p2_expanded(&reply.json(), package)
            .into_iter()
            .find(|v| v["version"] == version)
            .and_then(|v| {
                v.get("published-time")
                    .and_then(|t| t.as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| panic!("no published-time for {version}: {}", reply.text()))
    };
    let before = packyard::time::rfc3339(packyard::db::now_millis() / 1000);
    repo.publish("acme/uploaded", &["1.0.0"]).await;
    let uploaded = repo.get_as("admin", "/p2/acme/uploaded.json").await;
    let first = published(&uploaded, "acme/uploaded", "1.0.0");
    let after = packyard::time::rfc3339(packyard::db::now_millis() / 1000);
    assert!(
        before <= first && first <= after,
        "{before} <= {first} <= {after}"
    );
    // The API says the same.
    let api = repo.get_as("admin", "/api/packages/acme/uploaded").await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.text());
    let api = api.json().to_string();
    assert!(
        api.contains(&format!("\"published_time\":\"{first}\"")),
        "{api}"
    );

    // A git package whose tag's commit is dated years ago: published now, not then.
    let git = GitRepo::new();
    git.write("composer.json", &json!({"name": "acme/lib"}).to_string());
    git.git(&["add", "composer.json"]);
    git.git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.test",
        "commit",
        "--quiet",
        "--date=2001-01-01T00:00:00Z",
        "-m",
        "old",
    ]);
    git.tag("1.0.0");
    repo.add_git(&git).await;
    let lib = repo.get_as("admin", "/p2/acme/lib.json").await;
    let tagged = published(&lib, "acme/lib", "1.0.0");
    assert!(tagged >= first, "{tagged}");
    let dev = repo.get_as("admin", "/p2/acme/lib~dev.json").await;
    let branch = published(&dev, "acme/lib", "dev-main");

    // A second later, a new commit on the branch: the branch is published again, the
    // tag keeps its time.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    git.write("README.md", "# lib\n");
    git.commit("docs");
    repo.app.git_packages.rescan("acme/lib").await.unwrap();
    let lib = repo.get_as("admin", "/p2/acme/lib.json").await;
    assert_eq!(published(&lib, "acme/lib", "1.0.0"), tagged);
    let dev = repo.get_as("admin", "/p2/acme/lib~dev.json").await;
    assert!(published(&dev, "acme/lib", "dev-main") > branch);
}
