//! The access matrix, generated: every principal × every reading route × every package
//! and version, each cell checked against an oracle written here from the rules (not
//! from the implementation), and every refusal compared byte for byte with the answer
//! for something that does not exist. In process, on the router of a real `App`.

use std::collections::BTreeSet;

use crate::common::in_process::InProcess;
use axum::body::Body;
use axum::http::{Method, StatusCode};
use packyard::auth::hash_token;
use packyard::db::{GroupChange, Role, UserChange, now_millis};
use packyard::tokens::{self, Scope, Scopes};
use serde_json::{Value, json};

/// `(package, version)` in upload order.
const CATALOGUE: [(&str, &str); 4] = [
    ("acme/lib", "1.0.0"),
    ("vendor/tool", "1.0.0"),
    ("acme/secret", "1.0.0"),
    ("acme/lib", "2.0.0"), // released after the frozen group's date
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Admin,
    Maintainer,
    FullAccess,
    /// `acme/lib ^1.0`.
    Constrained,
    /// `acme/lib`, frozen before 2.0.0.
    Frozen,
    /// `vendor/*`.
    Pattern,
    NoGroups,
    ExpiredUser,
    /// The admin's token limited to `metadata`.
    ScopedToken,
    ExpiredToken,
}

const EVERYONE: [Who; 10] = [
    Who::Admin,
    Who::Maintainer,
    Who::FullAccess,
    Who::Constrained,
    Who::Frozen,
    Who::Pattern,
    Who::NoGroups,
    Who::ExpiredUser,
    Who::ScopedToken,
    Who::ExpiredToken,
];

impl Who {
    /// The oracle: whether this principal may see `version` of `package`.
    fn sees(self, package: &str, version: &str) -> bool {
        match self {
            Who::Admin | Who::Maintainer | Who::FullAccess | Who::ScopedToken => true,
            Who::Constrained | Who::Frozen => package == "acme/lib" && version == "1.0.0",
            Who::Pattern => package == "vendor/tool",
            Who::NoGroups | Who::ExpiredUser | Who::ExpiredToken => false,
        }
    }

    fn refused(self) -> bool {
        matches!(self, Who::ExpiredUser | Who::ExpiredToken)
    }

    fn visible_packages(self) -> Vec<&'static str> {
        let set: BTreeSet<&str> = CATALOGUE
            .iter()
            .filter(|(p, v)| self.sees(p, v))
            .map(|(p, _)| *p)
            .collect();
        set.into_iter().collect()
    }
}

struct Matrix {
    inner: InProcess,
    tokens: Vec<(Who, String)>,
    references: Vec<(&'static str, &'static str, String)>,
}

impl std::ops::Deref for Matrix {
    type Target = InProcess;

    fn deref(&self) -> &InProcess {
        &self.inner
    }
}

impl Matrix {
    async fn build() -> Matrix {
        // A mirror whose upstream refuses connections: past access, a 502.
        let mirrors = json!({"mirrors": {"packagist": false, "up": {"url": "http://127.0.0.1:1"}}});
        let inner = InProcess::open("access-matrix", &mirrors, &[]).await;
        let app = inner.app.clone();
        let db = &app.db;
        let token = tokens::generate();
        db.create_user("admin", Role::Admin, &hash_token(&token))
            .await
            .unwrap();
        let mut matrix = Matrix {
            inner,
            tokens: vec![(Who::Admin, token)],
            references: Vec::new(),
        };
        let mut freeze = 0;
        for (package, version) in CATALOGUE {
            if version == "2.0.0" {
                freeze = now_millis();
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let zip = crate::common::package_zip(package, &[], version);
            let path = format!("/api/packages/upload/{package}/{version}");
            let reply = matrix
                .call(Who::Admin, Method::PUT, &path, Body::from(zip))
                .await;
            assert_eq!(reply.0, StatusCode::CREATED, "{}", reply.1);
            let reference = serde_json::from_str::<Value>(&reply.1).unwrap()["reference"]
                .as_str()
                .unwrap()
                .to_owned();
            matrix.references.push((package, version, reference));
        }

        let plain = |name: &'static str, who: Who| async move {
            let token = tokens::generate();
            let role = if who == Who::Maintainer {
                Role::Maintainer
            } else {
                Role::User
            };
            db.create_user(name, role, &hash_token(&token))
                .await
                .unwrap();
            (who, token)
        };
        for (name, who) in [
            ("maintainer", Who::Maintainer),
            ("full", Who::FullAccess),
            ("constrained", Who::Constrained),
            ("frozen", Who::Frozen),
            ("pattern", Who::Pattern),
            ("nogroups", Who::NoGroups),
            ("expired", Who::ExpiredUser),
        ] {
            let entry = plain(name, who).await;
            matrix.tokens.push(entry);
        }
        let full = UserChange {
            full_access: Some(true),
            ..UserChange::default()
        };
        db.change_user("full", &full).await.unwrap();
        let expired = UserChange {
            full_access: Some(true),
            expires_at: Some(Some(1)),
            ..UserChange::default()
        };
        db.change_user("expired", &expired).await.unwrap();
        for (group, member, package, versions) in [
            ("c", "constrained", "acme/lib", Some("^1.0")),
            ("f", "frozen", "acme/lib", None),
            ("p", "pattern", "vendor/*", None),
        ] {
            db.create_group(group, &packyard::db::GroupChange::default())
                .await
                .unwrap();
            db.grant(group, package, versions).await.unwrap();
            db.set_membership(group, member, true).await.unwrap();
        }
        let frozen = GroupChange {
            updates_until: Some(Some(freeze)),
            ..GroupChange::default()
        };
        db.change_group("f", &frozen).await.unwrap();
        let mirrors = GroupChange {
            mirrors: Some(vec!["up".into()]),
            ..GroupChange::default()
        };
        db.change_group("p", &mirrors).await.unwrap();
        for (who, name, scopes, expires) in [
            (
                Who::ScopedToken,
                "scoped",
                Some(vec![Scope::Metadata]),
                None,
            ),
            (Who::ExpiredToken, "old", None, Some(1)),
        ] {
            let token = tokens::generate();
            db.create_token(
                "admin",
                name,
                &Scopes(scopes),
                expires,
                None,
                &hash_token(&token),
            )
            .await
            .unwrap();
            matrix.tokens.push((who, token));
        }
        matrix.refresh_access().await;
        matrix
    }

    async fn call(&self, who: Who, method: Method, path: &str, body: Body) -> (StatusCode, String) {
        let token = &self.tokens.iter().find(|(w, _)| *w == who).unwrap().1;
        let authorization = format!("Bearer {token}");
        let reply = self
            .inner
            .send(method, path, Some(&authorization), body)
            .await;
        (reply.status, reply.text())
    }

    async fn get(&self, who: Who, path: &str) -> (StatusCode, String) {
        self.call(who, Method::GET, path, Body::empty()).await
    }
}

fn versions_in(p2: &str, package: &str) -> BTreeSet<String> {
    let document: Value = serde_json::from_str(p2).unwrap();
    document["packages"][package]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["version"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn every_principal_sees_exactly_what_the_rules_allow_on_every_route() {
    let matrix = Matrix::build().await;
    let packages: BTreeSet<&str> = CATALOGUE.iter().map(|(p, _)| *p).collect();
    let mut cells = 0;
    for who in EVERYONE {
        let context = |route: &str| format!("{who:?} {route}");
        if who.refused() {
            for path in ["/packages.json", "/p2/acme/lib.json", "/api/packages"] {
                let (status, body) = matrix.get(who, path).await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{}", context(path));
                assert!(body.contains("expired"), "{}: {body}", context(path));
                cells += 1;
            }
            continue;
        }
        let visible = who.visible_packages();

        let (status, root) = matrix.get(who, "/packages.json").await;
        assert_eq!(status, StatusCode::OK);
        let listed: Value = serde_json::from_str(&root).unwrap();
        assert_eq!(
            listed["available-packages"],
            json!(visible),
            "{}",
            context("packages.json")
        );
        let (status, api) = matrix.get(who, "/api/packages").await;
        if who == Who::ScopedToken {
            // metadata only: the API needs packages:read.
            assert_eq!(status, StatusCode::FORBIDDEN, "{api}");
        } else {
            assert_eq!(
                serde_json::from_str::<Value>(&api).unwrap()["packageNames"],
                json!(visible),
                "{}",
                context("/api/packages")
            );
        }
        cells += 2;

        for package in &packages {
            let expected: BTreeSet<String> = CATALOGUE
                .iter()
                .filter(|(p, v)| p == package && who.sees(p, v))
                .map(|(_, v)| (*v).to_owned())
                .collect();
            for (route, unknown_route) in [
                (format!("/p2/{package}.json"), "/p2/acme/unknown.json"),
                (
                    format!("/api/packages/{package}"),
                    "/api/packages/acme/unknown",
                ),
            ] {
                let (status, body) = matrix.get(who, &route).await;
                cells += 1;
                if who == Who::ScopedToken && route.starts_with("/api/") {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{}", context(&route));
                } else if expected.is_empty() {
                    // Forbidden is unknown: same status, the same bytes but for the name.
                    let (unknown_status, unknown) = matrix.get(who, unknown_route).await;
                    assert_eq!(status, StatusCode::NOT_FOUND, "{}", context(&route));
                    assert_eq!(status, unknown_status);
                    assert_eq!(
                        body,
                        unknown.replace("acme/unknown", package),
                        "{}",
                        context(&route)
                    );
                } else if route.starts_with("/p2/") {
                    assert_eq!(status, StatusCode::OK, "{}: {body}", context(&route));
                    assert_eq!(versions_in(&body, package), expected, "{}", context(&route));
                } else {
                    let shown: BTreeSet<String> =
                        serde_json::from_str::<Value>(&body).unwrap()["package"]["versions"]
                            .as_object()
                            .unwrap()
                            .keys()
                            .cloned()
                            .collect();
                    assert_eq!(shown, expected, "{}", context(&route));
                }
            }
        }

        for (package, version, reference) in &matrix.references {
            let route = format!("/zipball/{package}/{reference}.zip");
            let (status, body) = matrix.get(who, &route).await;
            cells += 1;
            if who.sees(package, version) {
                assert_eq!(status, StatusCode::OK, "{}", context(&route));
            } else {
                let made_up = "0".repeat(40);
                let (_, unknown) = matrix
                    .get(who, &format!("/zipball/{package}/{made_up}.zip"))
                    .await;
                assert_eq!(status, StatusCode::NOT_FOUND, "{}", context(&route));
                assert_eq!(
                    body,
                    unknown.replace(&made_up, reference),
                    "{}",
                    context(&route)
                );
            }
        }

        // Uploading is an admin's, with a token that has packages:all.
        let upload = matrix
            .call(
                who,
                Method::PUT,
                "/api/packages/upload/acme/lib/9.0.0",
                Body::from("not a zip"),
            )
            .await;
        let expected = if who == Who::Admin {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(upload.0, expected, "{}: {}", context("upload"), upload.1);
        cells += 1;
    }

    // Mirrors, job details and webhooks, per principal.
    let job = matrix
        .app
        .jobs
        .enqueue_job(&packyard::git_packages::job::ScanJob {
            package: "acme/lib".into(),
        })
        .await
        .unwrap();
    let hook = r#"{"repository":{"url":"https://git.example.com/acme/none.git"}}"#;
    for who in EVERYONE {
        let context = |route: &str| format!("{who:?} {route}");
        let (status, body) = matrix.get(who, "/mirror/up/packages.json").await;
        let (_, unknown) = matrix.get(who, "/mirror/nope/packages.json").await;
        let expected = match who {
            _ if who.refused() => StatusCode::UNAUTHORIZED,
            Who::ScopedToken => StatusCode::FORBIDDEN,
            Who::Admin | Who::Maintainer | Who::FullAccess | Who::Pattern => {
                StatusCode::BAD_GATEWAY
            }
            _ => StatusCode::NOT_FOUND,
        };
        assert_eq!(status, expected, "{}: {body}", context("mirror"));
        if expected == StatusCode::NOT_FOUND {
            assert_eq!(body, unknown.replace("nope", "up"), "{}", context("mirror"));
        }

        let (status, body) = matrix.get(who, &format!("/api/jobs/{job}")).await;
        let (_, unknown) = matrix.get(who, "/api/jobs/999999").await;
        let expected = match who {
            _ if who.refused() => StatusCode::UNAUTHORIZED,
            Who::ScopedToken => StatusCode::FORBIDDEN,
            // The scan's report speaks of every version: only for those who see them all.
            Who::Admin | Who::Maintainer | Who::FullAccess => StatusCode::OK,
            _ => StatusCode::NOT_FOUND,
        };
        assert_eq!(status, expected, "{}: {body}", context("job"));
        if expected == StatusCode::NOT_FOUND {
            assert_eq!(
                body,
                unknown.replace("999999", &job.to_string()),
                "{}",
                context("job")
            );
        }

        let (status, body) = matrix
            .call(who, Method::POST, "/api/update-package", Body::from(hook))
            .await;
        let expected = match who {
            _ if who.refused() => StatusCode::UNAUTHORIZED,
            Who::Admin | Who::Maintainer => StatusCode::NOT_FOUND,
            _ => StatusCode::FORBIDDEN,
        };
        assert_eq!(status, expected, "{}: {body}", context("update-package"));
        cells += 3;
    }

    // Installs are counted only of packages the installer may see.
    for who in EVERYONE.into_iter().filter(|w| !w.refused()) {
        let downloads: Vec<Value> = CATALOGUE
            .iter()
            .map(|(p, v)| json!({"name": p, "version": format!("{v}.0")}))
            .collect();
        let body = json!({"downloads": downloads}).to_string();
        let (status, _) = matrix
            .call(who, Method::POST, "/downloads/", Body::from(body))
            .await;
        assert_eq!(status, StatusCode::OK);
        cells += 1;
    }
    for (package, _) in CATALOGUE {
        let counted: i64 = matrix
            .app
            .db
            .download_counts(&composer::package_name::PackageName::parse(package).unwrap())
            .await
            .unwrap()
            .iter()
            .map(|(_, count)| count)
            .sum();
        let expected = EVERYONE
            .iter()
            .filter(|w| !w.refused() && w.visible_packages().contains(&package))
            .map(|_| CATALOGUE.iter().filter(|(p, _)| *p == package).count() as i64)
            .sum::<i64>();
        assert_eq!(counted, expected, "installs of {package}");
    }
    println!("{cells} cells checked for {} principals", EVERYONE.len());
    assert!(cells >= 100, "only {cells} cells");
}
