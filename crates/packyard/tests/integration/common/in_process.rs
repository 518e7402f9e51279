//! An `App` in this process, on a temporary SQLite database and data dir, and requests
//! to its router: for tests of the HTTP contract that need no server process.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use packyard::app::App;
use packyard::auth::{generate_token, hash_token};
use packyard::config::Settings;
use packyard::db::{Role, UserChange};
use serde_json::Value;
use testkit::TempDir;
use tower::ServiceExt;

pub struct InProcess {
    pub app: Arc<App>,
    pub router: packyard::http::ObservedRouter,
    pub data: TempDir,
}

impl InProcess {
    /// An app with `config` as its config file and `extra` in its environment besides
    /// the data dir and the config file's path.
    pub async fn open(name: &str, config: &Value, extra: &[(&str, &str)]) -> InProcess {
        let data = TempDir::new(name);
        let config_file = data.path().join("config.yaml");
        std::fs::write(&config_file, config.to_string()).unwrap();
        let mut env: Vec<(String, String)> = vec![
            (
                "PACKYARD_DATA_DIR".into(),
                data.path().display().to_string(),
            ),
            ("PACKYARD_CONFIG".into(), config_file.display().to_string()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let settings = Settings::from_lookup(|name| {
            env.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        })
        .unwrap();
        let app = App::open(settings).await.unwrap();
        let router = packyard::routes::router(app.clone());
        InProcess { app, router, data }
    }

    pub async fn call(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// `method path` on the host `repo.test` with `body` (sent as JSON, as API
    /// clients do; routes that read forms ignore the type) and, when given, this
    /// `Authorization` header.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        body: Body,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "repo.test")
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(authorization) = authorization {
            request = request.header(header::AUTHORIZATION, authorization);
        }
        self.call(request.body(body).unwrap()).await
    }

    /// `GET path` on the host `repo.test` with `headers`.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(header::HOST, "repo.test");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.call(request.body(Body::empty()).unwrap()).await
    }

    /// Creates a user with `role` (a plain user that sees every package when
    /// `full_access`, as `packyard user add --full-access` makes) and returns its token,
    /// in effect at once.
    pub async fn add_user(&self, name: &str, role: Role, full_access: bool) -> String {
        let token = generate_token();
        let db = &self.app.db;
        db.create_user(name, role, &hash_token(&token))
            .await
            .unwrap();
        if full_access {
            let change = UserChange {
                full_access: Some(true),
                ..UserChange::default()
            };
            db.change_user(name, &change).await.unwrap();
        }
        self.refresh_access().await;
        token
    }

    /// `PUT path` with `body`, declaring its length as HTTP clients do, and when given
    /// this `Authorization` header.
    pub async fn put(&self, path: &str, authorization: Option<&str>, body: &[u8]) -> Reply {
        let mut request = Request::builder()
            .method(Method::PUT)
            .uri(path)
            .header(header::HOST, "repo.test")
            .header(header::CONTENT_LENGTH, body.len());
        if let Some(authorization) = authorization {
            request = request.header(header::AUTHORIZATION, authorization);
        }
        self.call(request.body(Body::from(body.to_vec())).unwrap())
            .await
    }

    /// Uploads `archive` as `name` `version` with the admin `token`.
    pub async fn upload(&self, token: &str, name: &str, version: &str, archive: &[u8]) -> Reply {
        let path = format!("/api/packages/upload/{name}/{version}");
        let authorization = super::basic("admin", token);
        self.put(&path, Some(&authorization), archive).await
    }

    /// Runs `sql` on the app's SQLite database behind its back, through Python's
    /// sqlite3 rather than the app: what someone with access to the database file does.
    pub fn tamper(&self, sql: &str) {
        let database = self.data.path().join("packyard.db");
        let output = std::process::Command::new("python3")
            .args([
                "-c",
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()",
            ])
            .arg(&database)
            .arg(sql)
            .output()
            .expect("python3 runs");
        assert!(output.status.success(), "{sql}: {output:?}");
    }

    /// Applies access changes at once, as the server's 2 s refresher would.
    pub async fn refresh_access(&self) {
        let auth = &self.app.auth;
        self.app.access.refresh(|| auth.forget_all()).await.unwrap();
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

/// An app with one user of each kind and their tokens: `admin`, `maintainer`, `reader`
/// (sees every package) and `customer` (sees only what groups grant it: nothing yet).
pub struct Staffed {
    pub inner: InProcess,
    tokens: Vec<(&'static str, String)>,
}

impl std::ops::Deref for Staffed {
    type Target = InProcess;

    fn deref(&self) -> &InProcess {
        &self.inner
    }
}

impl Staffed {
    /// The app of [`InProcess::open`] with its staff.
    pub async fn open(name: &str, config: &Value, env: &[(&str, &str)]) -> Staffed {
        let inner = InProcess::open(name, config, env).await;
        let mut tokens = Vec::new();
        for (name, role, full_access) in [
            ("reader", Role::User, true),
            ("customer", Role::User, false),
            ("maintainer", Role::Maintainer, false),
            ("admin", Role::Admin, false),
        ] {
            tokens.push((name, inner.add_user(name, role, full_access).await));
        }
        Staffed { inner, tokens }
    }

    pub fn token(&self, user: &str) -> &str {
        &self
            .tokens
            .iter()
            .find(|(name, _)| *name == user)
            .unwrap()
            .1
    }

    /// `GET path` as `user`, by HTTP Basic.
    pub async fn get_as(&self, user: &str, path: &str) -> Reply {
        let authorization = super::basic(user, self.token(user));
        self.get(path, &[("Authorization", &authorization)]).await
    }

    /// Uploads `versions` of `name` as the admin.
    pub async fn publish(&self, name: &str, versions: &[&str]) {
        for version in versions {
            let archive = super::package_zip(name, &[], version);
            let reply = self
                .upload(self.token("admin"), name, version, &archive)
                .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        }
    }

    /// Adds `repo` as a git package (its tags and branches become versions).
    pub async fn add_git(&self, repo: &super::git::GitRepo) {
        self.app
            .git_packages
            .add(packyard::git_packages::AddRequest {
                url: repo.url(),
                allow_local: true,
                ..packyard::git_packages::AddRequest::default()
            })
            .await
            .unwrap();
    }

    /// `method path` as `user` (`None`: anonymous, by HTTP Basic) with `body`.
    pub async fn send_as(
        &self,
        method: &Method,
        path: &str,
        user: Option<&str>,
        body: Body,
    ) -> Reply {
        let authorization = user.map(|user| super::basic(user, self.token(user)));
        self.inner
            .send(method.clone(), path, authorization.as_deref(), body)
            .await
    }
}
