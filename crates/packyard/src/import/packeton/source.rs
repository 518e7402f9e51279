//! Reading a Packeton database: SQLite, MySQL/MariaDB or PostgreSQL, with the tables
//! Doctrine created from Packeton's entities (no migrations: columns are selected by
//! name, never by position). Every value is read as text or integer through casts that
//! each engine understands, so one query serves all three; what the text holds is
//! parsed here into plain rows.

use std::collections::HashMap;

use serde_json::{Map, Value};
use sqlx::{AnyPool, Row};

use super::php;

/// Why the database could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "unsupported DATABASE_URL {0:?}: use sqlite:///ABSOLUTE/PATH, mysql://… or postgresql://…, as Packeton's own"
    )]
    UnsupportedUrl(String),
    #[error(
        "{0:?} still holds %kernel.project_dir%: give the path Packeton's directory stands for"
    )]
    ProjectDir(String),
    #[error("cannot open the Packeton database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("reading table {table} of the Packeton database: {error}")]
    Read {
        table: &'static str,
        #[source]
        error: sqlx::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    MySql,
    Postgres,
}

impl Dialect {
    /// `column` as text (dates, JSON, CLOBs alike).
    fn text(self, column: &str) -> String {
        match self {
            Dialect::Sqlite | Dialect::Postgres => format!("CAST({column} AS TEXT)"),
            Dialect::MySql => format!("CAST({column} AS CHAR)"),
        }
    }

    /// `column` as a 64-bit integer.
    fn int(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("CAST({column} AS INTEGER)"),
            Dialect::MySql => format!("CAST({column} AS SIGNED)"),
            Dialect::Postgres => format!("CAST({column} AS BIGINT)"),
        }
    }

    /// A boolean column as 0 or 1 (NULL as 0): the same on every engine.
    fn flag(column: &str) -> String {
        format!("CASE WHEN {column} THEN 1 ELSE 0 END")
    }
}

/// An open Packeton database, read-only.
pub struct PacketonDb {
    pool: AnyPool,
    dialect: Dialect,
}

/// A row of `fos_user`, with its groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketonUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub enabled: bool,
    pub roles: Vec<String>,
    pub password: Option<String>,
    pub salt: Option<String>,
    /// The per-user token customers put in `auth.json`.
    pub api_token: Option<String>,
    /// `Y-m-d`.
    pub expires_at: Option<String>,
    /// `Y-m-d`.
    pub expired_updates_at: Option<String>,
    /// Sub-repository ids, `0` for the root; `None` when not set.
    pub sub_repos: Option<Vec<i64>>,
    pub groups: Vec<i64>,
}

/// A row of `user_group` with its ACL permissions (package name, constraint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketonGroup {
    pub id: i64,
    pub name: String,
    /// `Y-m-d H:i:s`.
    pub expired_updates_at: Option<String>,
    pub proxies: Vec<String>,
    pub permissions: Vec<(String, Option<String>)>,
}

/// A personal access token (`user_api_token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketonToken {
    pub id: i64,
    pub owner: i64,
    pub name: Option<String>,
    /// Without its `pat_` prefix, as stored.
    pub secret: String,
    /// `Y-m-d H:i:s`.
    pub expire_at: Option<String>,
    /// `None`: not set (every scope).
    pub scores: Option<Vec<String>>,
}

/// A row of `sub_repository`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketonSubRepository {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub hosts: Vec<String>,
    pub packages: Vec<String>,
    pub public: bool,
    pub has_landing_page: bool,
}

/// A row of `webhook`: Packeton's outgoing hook, whose body is a Twig template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketonWebhook {
    pub id: i64,
    pub name: String,
    pub url: String,
    /// Its events (`simple_array`: comma-joined).
    pub events: Vec<String>,
    pub active: bool,
    /// A PCRE, delimiters included, on package names.
    pub package_restriction: Option<String>,
    pub version_restriction: Option<String>,
    /// The names of the request headers its options set (never their values: they
    /// often hold credentials).
    pub header_names: Vec<String>,
    /// Its request options other than headers, by name.
    pub other_options: Vec<String>,
    pub has_payload: bool,
    pub method: Option<String>,
}

impl PacketonDb {
    /// Opens the database Packeton's `DATABASE_URL` names (read-only for SQLite).
    pub async fn open(url: &str) -> Result<PacketonDb, SourceError> {
        if url.contains("%kernel.project_dir%") {
            return Err(SourceError::ProjectDir(crate::redact::public(url)));
        }
        let (dialect, url) = driver_url(url)?;
        sqlx::any::install_default_drivers();
        let pool = sqlx::pool::PoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .map_err(SourceError::Connect)?;
        Ok(PacketonDb { pool, dialect })
    }

    async fn rows(
        &self,
        table: &'static str,
        sql: String,
    ) -> Result<Vec<sqlx::any::AnyRow>, SourceError> {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(|error| SourceError::Read { table, error })
    }

    pub async fn users(&self) -> Result<Vec<PacketonUser>, SourceError> {
        let d = self.dialect;
        let memberships = self
            .rows(
                "fos_user_access_group",
                format!(
                    "SELECT {}, {} FROM fos_user_access_group",
                    d.int("user_id"),
                    d.int("group_id")
                ),
            )
            .await?;
        let mut groups: HashMap<i64, Vec<i64>> = HashMap::new();
        for row in memberships {
            groups.entry(row.get(0)).or_default().push(row.get(1));
        }
        let rows = self
            .rows(
                "fos_user",
                format!(
                    "SELECT {id}, {username}, {email}, {enabled}, {roles}, {password}, {salt}, \
                     {api_token}, {expires}, {updates}, {sub_repos} FROM fos_user ORDER BY id",
                    id = d.int("id"),
                    username = d.text("username"),
                    email = d.text("email"),
                    enabled = Dialect::flag("enabled"),
                    roles = d.text("roles"),
                    password = d.text("password"),
                    salt = d.text("salt"),
                    api_token = d.text("apitoken"),
                    expires = d.text("expires_at"),
                    updates = d.text("expired_updates_at"),
                    sub_repos = d.text("sub_repos"),
                ),
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let id: i64 = row.get(0);
                let text = |i: usize| row.get::<Option<String>, _>(i).filter(|t| !t.is_empty());
                PacketonUser {
                    id,
                    username: row.get(1),
                    email: text(2).unwrap_or_default(),
                    enabled: row.get::<i64, _>(3) == 1,
                    roles: text(4)
                        .and_then(|roles| php::array_column(&roles).ok())
                        .map(strings)
                        .unwrap_or_default(),
                    password: text(5),
                    salt: text(6),
                    api_token: text(7),
                    expires_at: text(8).map(|day| day_of(&day)),
                    expired_updates_at: text(9).map(|day| day_of(&day)),
                    sub_repos: text(10).and_then(|list| {
                        serde_json::from_str::<Vec<Value>>(&list)
                            .ok()
                            .map(|ids| ids.iter().filter_map(value_as_int).collect())
                    }),
                    groups: groups.remove(&id).unwrap_or_default(),
                }
            })
            .collect())
    }

    pub async fn groups(&self) -> Result<Vec<PacketonGroup>, SourceError> {
        let d = self.dialect;
        let permissions = self
            .rows(
                "group_acl_permission",
                format!(
                    "SELECT {}, {}, {} FROM group_acl_permission a JOIN package p ON p.id = a.package_id \
                     ORDER BY a.id",
                    d.int("a.group_id"),
                    d.text("p.name"),
                    d.text("a.version")
                ),
            )
            .await?;
        let mut granted: HashMap<i64, Vec<(String, Option<String>)>> = HashMap::new();
        for row in permissions {
            let version: Option<String> = row.get(2);
            granted
                .entry(row.get(0))
                .or_default()
                .push((row.get(1), version.filter(|v| !v.trim().is_empty())));
        }
        let rows = self
            .rows(
                "user_group",
                format!(
                    "SELECT {}, {}, {}, {} FROM user_group ORDER BY id",
                    d.int("id"),
                    d.text("name"),
                    d.text("expired_updates_at"),
                    d.text("proxies")
                ),
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let id: i64 = row.get(0);
                let proxies: Option<String> = row.get(3);
                PacketonGroup {
                    id,
                    name: row.get(1),
                    expired_updates_at: row.get::<Option<String>, _>(2).filter(|t| !t.is_empty()),
                    // `simple_array`: comma-separated.
                    proxies: proxies
                        .unwrap_or_default()
                        .split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    permissions: granted.remove(&id).unwrap_or_default(),
                }
            })
            .collect())
    }

    pub async fn tokens(&self) -> Result<Vec<PacketonToken>, SourceError> {
        let d = self.dialect;
        let rows = self
            .rows(
                "user_api_token",
                format!(
                    "SELECT {}, {}, {}, {}, {}, {} FROM user_api_token WHERE owner_id IS NOT NULL ORDER BY id",
                    d.int("id"),
                    d.int("owner_id"),
                    d.text("name"),
                    d.text("api_token"),
                    d.text("expire_at"),
                    d.text("scores")
                ),
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let scores: Option<String> = row.get(5);
                PacketonToken {
                    id: row.get(0),
                    owner: row.get(1),
                    name: row.get(2),
                    secret: row.get(3),
                    expire_at: row.get::<Option<String>, _>(4).filter(|t| !t.is_empty()),
                    scores: scores
                        .and_then(|list| serde_json::from_str::<Value>(&list).ok())
                        .map(strings),
                }
            })
            .collect())
    }

    pub async fn webhooks(&self) -> Result<Vec<PacketonWebhook>, SourceError> {
        let d = self.dialect;
        let rows = self
            .rows(
                "webhook",
                format!(
                    "SELECT {}, {}, {}, {}, {}, {}, {}, {}, {}, {} FROM webhook ORDER BY id",
                    d.int("id"),
                    d.text("name"),
                    d.text("url"),
                    d.text("events"),
                    Dialect::flag("active"),
                    d.text("package_restriction"),
                    d.text("version_restriction"),
                    d.text("options"),
                    d.text("payload"),
                    d.text("method"),
                ),
            )
            .await?;
        let present = |text: Option<String>| text.filter(|t| !t.trim().is_empty());
        Ok(rows
            .into_iter()
            .map(|row| {
                let events: Option<String> = row.get(3);
                let options = present(row.get(7))
                    .and_then(|json| serde_json::from_str::<Value>(&json).ok())
                    .and_then(|value| value.as_object().cloned())
                    .unwrap_or_default();
                let header_names = options
                    .get("headers")
                    .map(|headers| match headers {
                        // {"Name": "value"} or ["Name: value"]
                        Value::Object(map) => map.keys().cloned().collect(),
                        Value::Array(lines) => lines
                            .iter()
                            .filter_map(Value::as_str)
                            .filter_map(|line| line.split_once(':'))
                            .map(|(name, _)| name.trim().to_owned())
                            .collect(),
                        _ => Vec::new(),
                    })
                    .unwrap_or_default();
                PacketonWebhook {
                    id: row.get(0),
                    name: row.get(1),
                    url: row.get(2),
                    events: events
                        .unwrap_or_default()
                        .split(',')
                        .map(str::trim)
                        .filter(|e| !e.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    active: row.get::<i64, _>(4) == 1,
                    package_restriction: present(row.get(5)),
                    version_restriction: present(row.get(6)),
                    header_names,
                    other_options: options
                        .keys()
                        .filter(|k| *k != "headers")
                        .cloned()
                        .collect(),
                    has_payload: present(row.get(8)).is_some(),
                    method: present(row.get(9)),
                }
            })
            .collect())
    }

    pub async fn sub_repositories(&self) -> Result<Vec<PacketonSubRepository>, SourceError> {
        let d = self.dialect;
        let rows = self
            .rows(
                "sub_repository",
                format!(
                    "SELECT {}, {}, {}, {}, {}, {}, {} FROM sub_repository ORDER BY id",
                    d.int("id"),
                    d.text("name"),
                    d.text("slug"),
                    d.text("urls"),
                    d.text("packages"),
                    Dialect::flag("public_access"),
                    d.text("html_markup")
                ),
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let urls: Option<String> = row.get(3);
                let packages: Option<String> = row.get(4);
                let markup: Option<String> = row.get(6);
                PacketonSubRepository {
                    id: row.get(0),
                    name: row.get(1),
                    slug: row.get(2),
                    // Host names, one a line.
                    hosts: urls
                        .unwrap_or_default()
                        .lines()
                        .map(str::trim)
                        .filter(|h| !h.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    packages: packages
                        .and_then(|list| serde_json::from_str::<Value>(&list).ok())
                        .map(strings)
                        .unwrap_or_default(),
                    public: row.get::<i64, _>(5) == 1,
                    has_landing_page: markup.is_some_and(|m| !m.trim().is_empty()),
                }
            })
            .collect())
    }
}

/// A row of `package`.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketonPackage {
    pub id: i64,
    pub name: String,
    /// `vcs` (also when NULL), `artifact`, `custom`, `mirror`, …
    pub repo_type: String,
    pub repository: String,
    pub abandoned: bool,
    pub replacement: Option<String>,
    /// Visible to every user.
    pub full_visibility: bool,
    /// Its git credentials (`ssh_credentials`), as stored: encrypted with APP_SECRET.
    pub credentials: Option<PacketonCredentials>,
    /// Its versions, oldest first, without soft-deleted ones.
    pub versions: Vec<PacketonVersion>,
}

/// A row of `ssh_credentials`, its secrets as stored (see `crypt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketonCredentials {
    pub name: String,
    pub ssh_key: Option<String>,
    /// Composer's `auth.json` part (`http-basic`, `github-oauth`, …), as JSON.
    pub composer_config: Option<String>,
}

/// A row of `package_version`, with what Composer is told of it.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketonVersion {
    pub id: i64,
    pub version: String,
    pub normalized: String,
    /// The composer.json fields Packeton published (`require`, `autoload`, `time`, …).
    pub fields: Map<String, Value>,
    /// Its dist (or else source) reference.
    pub reference: Option<String>,
    /// The dist's `shasum` as Packeton published it (often empty).
    pub dist_shasum: Option<String>,
    /// `Y-m-d H:i:s`, UTC.
    pub released_at: Option<String>,
    /// When Packeton first published it (`Y-m-d H:i:s`, UTC).
    pub created_at: Option<String>,
}

impl PacketonDb {
    /// Every package with its versions.
    pub async fn packages(&self) -> Result<Vec<PacketonPackage>, SourceError> {
        let d = self.dialect;
        let rows = self
            .rows(
                "package",
                format!(
                    "SELECT {}, {}, {}, {}, {}, {}, {}, {} FROM package ORDER BY id",
                    d.int("id"),
                    d.text("name"),
                    d.text("repo_type"),
                    d.text("repository"),
                    Dialect::flag("abandoned"),
                    d.text("replacementpackage"),
                    Dialect::flag("full_visibility"),
                    d.int("credentials_id"),
                ),
            )
            .await?;
        let mut versions = self.versions().await?;
        let credentials: HashMap<i64, PacketonCredentials> = self
            .rows(
                "ssh_credentials",
                format!(
                    "SELECT {}, {}, {}, {} FROM ssh_credentials",
                    d.int("id"),
                    d.text("name"),
                    d.text("ssh_key"),
                    d.text("composer_config")
                ),
            )
            .await?
            .into_iter()
            .map(|row| {
                let text = |i: usize| {
                    row.get::<Option<String>, _>(i)
                        .filter(|t| !t.trim().is_empty())
                };
                (
                    row.get(0),
                    PacketonCredentials {
                        name: row.get(1),
                        ssh_key: text(2),
                        composer_config: text(3),
                    },
                )
            })
            .collect();
        Ok(rows
            .into_iter()
            .map(|row| {
                let id: i64 = row.get(0);
                let repo_type: Option<String> = row.get(2);
                PacketonPackage {
                    id,
                    name: row.get(1),
                    repo_type: repo_type
                        .filter(|t| !t.is_empty())
                        .unwrap_or_else(|| "vcs".to_owned()),
                    repository: row.get::<Option<String>, _>(3).unwrap_or_default(),
                    abandoned: row.get::<i64, _>(4) == 1,
                    replacement: row.get::<Option<String>, _>(5).filter(|r| !r.is_empty()),
                    full_visibility: row.get::<i64, _>(6) == 1,
                    credentials: row
                        .get::<Option<i64>, _>(7)
                        .and_then(|id| credentials.get(&id).cloned()),
                    versions: versions.remove(&id).unwrap_or_default(),
                }
            })
            .collect())
    }

    /// Versions by package id, with their links, keywords and authors.
    async fn versions(&self) -> Result<HashMap<i64, Vec<PacketonVersion>>, SourceError> {
        let d = self.dialect;
        let mut links: HashMap<i64, Map<String, Value>> = HashMap::new();
        for (table, field) in [
            ("link_require", "require"),
            ("link_require_dev", "require-dev"),
            ("link_conflict", "conflict"),
            ("link_provide", "provide"),
            ("link_replace", "replace"),
            ("link_suggest", "suggest"),
        ] {
            let rows = self
                .rows(
                    table,
                    format!(
                        "SELECT {}, {}, {} FROM {table} WHERE version_id IS NOT NULL ORDER BY id",
                        d.int("version_id"),
                        d.text("packagename"),
                        d.text("packageversion")
                    ),
                )
                .await?;
            for row in rows {
                let fields = links.entry(row.get(0)).or_default();
                let list = fields
                    .entry(field.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(list) = list {
                    list.insert(row.get(1), Value::String(row.get(2)));
                }
            }
        }
        let mut keywords: HashMap<i64, Vec<Value>> = HashMap::new();
        let tags = self
            .rows(
                "version_tag",
                format!(
                    "SELECT {}, {} FROM version_tag vt JOIN tag t ON t.id = vt.tag_id ORDER BY t.name",
                    d.int("vt.version_id"),
                    d.text("t.name")
                ),
            )
            .await?;
        for row in tags {
            keywords
                .entry(row.get(0))
                .or_default()
                .push(Value::String(row.get(1)));
        }
        let mut authors: HashMap<i64, Vec<Value>> = HashMap::new();
        let rows = self
            .rows(
                "version_author",
                format!(
                    "SELECT {}, {}, {}, {}, {} FROM version_author va JOIN author a ON a.id = va.author_id ORDER BY a.id",
                    d.int("va.version_id"),
                    d.text("a.name"),
                    d.text("a.email"),
                    d.text("a.homepage"),
                    d.text("a.role")
                ),
            )
            .await?;
        for row in rows {
            let mut author = Map::new();
            for (i, key) in [(1, "name"), (2, "email"), (3, "homepage"), (4, "role")] {
                if let Some(value) = row.get::<Option<String>, _>(i).filter(|v| !v.is_empty()) {
                    author.insert(key.to_owned(), Value::String(value));
                }
            }
            authors
                .entry(row.get(0))
                .or_default()
                .push(Value::Object(author));
        }
        let rows = self
            .rows(
                "package_version",
                format!(
                    "SELECT {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {} \
                     FROM package_version WHERE softdeletedat IS NULL ORDER BY id",
                    d.int("id"),
                    d.int("package_id"),
                    d.text("version"),
                    d.text("normalizedversion"),
                    d.text("description"),
                    d.text("type"),
                    d.text("targetdir"),
                    d.text("extra"),
                    d.text("homepage"),
                    d.text("license"),
                    d.text("source"),
                    d.text("dist"),
                    d.text("autoload"),
                    d.text("binaries"),
                    d.text("includepaths"),
                    d.text("support"),
                    d.text("releasedat"),
                    d.text("createdat"),
                ),
            )
            .await?;
        let mut versions: HashMap<i64, Vec<PacketonVersion>> = HashMap::new();
        for row in rows {
            let id: i64 = row.get(0);
            let text = |i: usize| {
                row.get::<Option<String>, _>(i)
                    .filter(|t| !t.trim().is_empty())
            };
            let json = |i: usize| text(i).and_then(|t| serde_json::from_str::<Value>(&t).ok());
            let mut fields = Map::new();
            let mut put = |key: &str, value: Option<Value>| {
                if let Some(value) = value.filter(|v| !v.is_null()) {
                    fields.insert(key.to_owned(), value);
                }
            };
            put("description", text(4).map(Value::String));
            put("type", text(5).map(Value::String));
            put("target-dir", text(6).map(Value::String));
            put(
                "extra",
                text(7)
                    .and_then(|t| php::array_column(&t).ok())
                    .filter(|v| v.as_object().is_some_and(|o| !o.is_empty())),
            );
            put("homepage", text(8).map(Value::String));
            put("license", json(9));
            let source = json(10);
            let dist = json(11);
            put("source", source.clone());
            put("autoload", json(12));
            put("bin", json(13));
            put("include-path", json(14));
            put("support", json(15));
            put("keywords", keywords.remove(&id).map(Value::Array));
            put("authors", authors.remove(&id).map(Value::Array));
            if let Some(Value::Object(linked)) = links.remove(&id).map(Value::Object) {
                for (key, value) in linked {
                    fields.insert(key, value);
                }
            }
            let reference = [&dist, &source].iter().find_map(|part| {
                part.as_ref()
                    .and_then(|p| p.get("reference"))
                    .and_then(Value::as_str)
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned)
            });
            let released_at = text(16);
            if let Some(at) = &released_at {
                fields.insert(
                    "time".to_owned(),
                    Value::String(format!(
                        "{}+00:00",
                        at.chars()
                            .take(19)
                            .collect::<String>()
                            .replacen(' ', "T", 1)
                    )),
                );
            }
            versions
                .entry(row.get(1))
                .or_default()
                .push(PacketonVersion {
                    id,
                    version: row.get(2),
                    normalized: row.get(3),
                    fields,
                    reference,
                    dist_shasum: dist
                        .as_ref()
                        .and_then(|d| d.get("shasum"))
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                    released_at,
                    created_at: text(17),
                });
        }
        Ok(versions)
    }
}

/// The strings of a JSON list (or of an object's values, as PHP arrays may be).
/// The engine of Packeton's `DATABASE_URL` and the URL sqlx takes for it. Doctrine's
/// own options (`serverVersion`, `charset`, `driver`) are not the drivers'; the others
/// (`sslmode`, `ssl-ca`, …) are kept, so a database reached over TLS stays so. SQLite is
/// opened read-only.
fn driver_url(url: &str) -> Result<(Dialect, String), SourceError> {
    let (without_options, query) = url.split_once('?').unwrap_or((url, ""));
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            !pair.is_empty() && !["serverVersion", "charset", "driver"].contains(&key)
        })
        .collect();
    let options = |extra: &str| {
        let mut all: Vec<&str> = kept.clone();
        if !extra.is_empty() {
            all.push(extra);
        }
        if all.is_empty() {
            String::new()
        } else {
            format!("?{}", all.join("&"))
        }
    };
    let (dialect, url) = if let Some(path) = without_options.strip_prefix("sqlite://") {
        (
            Dialect::Sqlite,
            format!("sqlite://{path}{}", options("mode=ro")),
        )
    } else if without_options.starts_with("mysql://") || without_options.starts_with("mariadb://") {
        let rest = without_options
            .split_once("://")
            .map_or("", |(_, rest)| rest);
        (Dialect::MySql, format!("mysql://{rest}{}", options("")))
    } else if without_options.starts_with("postgresql://")
        || without_options.starts_with("postgres://")
        || without_options.starts_with("pgsql://")
    {
        let rest = without_options
            .split_once("://")
            .map_or("", |(_, rest)| rest);
        (
            Dialect::Postgres,
            format!("postgres://{rest}{}", options("")),
        )
    } else {
        return Err(SourceError::UnsupportedUrl(crate::redact::public(url)));
    };
    Ok((dialect, url))
}

fn strings(value: Value) -> Vec<String> {
    let items: Vec<Value> = match value {
        Value::Array(items) => items,
        Value::Object(map) => map.into_iter().map(|(_, v)| v).collect(),
        _ => Vec::new(),
    };
    items
        .into_iter()
        .filter_map(|item| match item {
            Value::String(text) => Some(text),
            _ => None,
        })
        .collect()
}

/// Ids as JSON numbers or numeric strings.
fn value_as_int(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
}

/// The `Y-m-d` of a date column (PostgreSQL and MySQL may give a time too).
fn day_of(text: &str) -> String {
    text.chars().take(10).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doctrine_options_are_dropped_and_tls_options_kept() {
        for (packeton, dialect, sqlx) in [
            (
                "mysql://u:p@db:3306/packeton?serverVersion=10.11.2-MariaDB&charset=utf8mb4&ssl-mode=REQUIRED",
                Dialect::MySql,
                "mysql://u:p@db:3306/packeton?ssl-mode=REQUIRED",
            ),
            (
                "postgresql://u:p@db/packeton?serverVersion=15&sslmode=verify-full&sslrootcert=/ca.pem",
                Dialect::Postgres,
                "postgres://u:p@db/packeton?sslmode=verify-full&sslrootcert=/ca.pem",
            ),
            (
                "pgsql://db/packeton?charset=utf8",
                Dialect::Postgres,
                "postgres://db/packeton",
            ),
            (
                "sqlite:///srv/packeton/var/app.db",
                Dialect::Sqlite,
                "sqlite:///srv/packeton/var/app.db?mode=ro",
            ),
            (
                "mariadb://db/p?driver=pdo_mysql",
                Dialect::MySql,
                "mysql://db/p",
            ),
        ] {
            let (found, url) = driver_url(packeton).unwrap();
            assert_eq!((found, url.as_str()), (dialect, sqlx), "{packeton}");
        }
        assert!(matches!(
            driver_url("oci8://db/x"),
            Err(SourceError::UnsupportedUrl(_))
        ));
    }
}
