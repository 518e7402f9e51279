//! `packyard import packeton` against real Packeton databases: the schema Doctrine
//! creates from Packeton's entities (`tests/fixtures/packeton/schema-*.sql`, commit
//! 5d1a5405) on SQLite, MariaDB and PostgreSQL, filled with users whose password hashes
//! come from PHP's own `password_hash()`. After the import, the customers' Packeton
//! credentials work here unchanged: the real `composer` installs with a user name and
//! `apiToken`, a personal access token reads metadata, and the web login takes the old
//! password (and rehashes it). A dry run writes nothing; a second run changes nothing.

use serde_json::Value;
use sqlx::Executor;

use crate::common::*;

/// A Packeton database on one engine: its `DATABASE_URL` as Packeton writes it, and
/// what keeps it alive.
struct PacketonDatabase {
    url: String,
    engine: &'static str,
    /// Packeton's project directory: its `.env` and `var/` with the archives.
    project: TempDir,
    versions: Vec<FixtureVersion>,
    /// Packeton's S3 storage, when its archives are there rather than on disk.
    bucket: Option<testkit::S3sFs>,
    _outside: TempDir,
}

/// Where the fixture's Packeton keeps its archives.
#[derive(Clone, Copy, PartialEq)]
enum ArchiveHome {
    /// `PACKAGIST_DIST_PATH` and `APP_COMPOSER_HOME/artifact_storage`, Packeton's defaults.
    Disk,
    /// `STORAGE_SOURCE=s3`, bucket `packeton-bucket`, prefixes `packeton` and `artifact`:
    /// Packeton's defaults, in s3s-fs.
    Bucket,
}

/// Packeton's S3 key of an archive it keeps at `stored_at` on disk.
fn bucket_key(stored_at: &str) -> String {
    stored_at.replacen("var/zipball/", "packeton/", 1).replacen(
        "var/.composer/artifact_storage/",
        "artifact/",
        1,
    )
}

/// A credential in a Packeton hook's request headers: never carried over or shown.
const HOOK_HEADER_SECRET: &str = "hook-header-secret-42";
const ERIN_TOKEN: &str = "ErinToken12345678901";
const FRANK_TOKEN: &str = "FrankToken1234567890";
const CAROL_TOKEN: &str = "CarolToken1234567890";
const ADMIN_TOKEN: &str = "AdminToken1234567890";
/// The token of a Packeton admin named as a plain user packyard already has.
const MALLORY_TOKEN: &str = "MalloryToken12345678";
const PAT: &str = "5f1c2c5a1d3b4e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f";

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    with_database_drivers(future)
}

/// `password_hash()` of the real PHP: (bcrypt, argon2id) of `password`.
fn php_hashes(password: &str) -> (String, String) {
    let text = php(&format!(
        "echo password_hash('{password}', PASSWORD_BCRYPT, ['cost' => 13]), \"\\n\", password_hash('{password}', PASSWORD_ARGON2ID);"
    ));
    let mut lines = text.lines().map(str::to_owned);
    (lines.next().unwrap(), lines.next().unwrap())
}

/// What the real PHP prints for `code`.
fn php(code: &str) -> String {
    let out = std::process::Command::new("php")
        .args(["-r", code])
        .output()
        .expect("php runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Packeton's APP_SECRET in the fixture: the key of its encrypted columns.
const APP_SECRET: &str = "8d3f0c6a2b1e4f5a9c7d6e5f4a3b2c1d";

/// `plain` as Packeton's `OpensslCrypter` stores it, by the real PHP and OpenSSL.
fn packeton_encrypt(plain: &str, secret: &str) -> String {
    php(&format!(
        "$iv = random_bytes(16); echo base64_encode(json_encode(['ivLength' => 16, 'algo' => 'aes-256-cbc']) . \"\\n\" . $iv . openssl_encrypt({}, 'aes-256-cbc', '{secret}', OPENSSL_RAW_DATA, $iv));",
        quote(plain)
    ))
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The rows of the fixture installation, as SQL every engine runs: a sub-repository
/// with a landing page, two packages, a group granting `acme/lib` at `^1.0` and all of
/// `acme/tool` (and listing a mirror that does not exist here), an admin (bcrypt), a
/// customer with a legacy PHP-serialized role list (argon2id), a name packyard cannot
/// take, a disabled user, and the customer's personal access token.
fn fixture_rows(
    bcrypt: &str,
    argon2id: &str,
    encrypted_auth: &str,
    versions: &[FixtureVersion],
) -> String {
    let t = "'2025-01-02 03:04:05'";
    [
        "INSERT INTO sub_repository (id, name, slug, urls, packages, public_access, html_markup) VALUES (1, 'Client A', 'client-a', 'client-a.test\nwww.client-a.test', '[\"acme/lib\"]', FALSE, '<h1>Welcome</h1>')".to_owned(),
        format!("INSERT INTO ssh_credentials (id, name, composer_config, createdat) VALUES (1, 'git.example bot', {}, {t})", quote(encrypted_auth)),
        format!("INSERT INTO package (id, name, repository, createdat, autoupdated, abandoned, updatefailurenotified, credentials_id) VALUES (1, 'acme/lib', 'https://git.example/acme/lib.git', {t}, FALSE, FALSE, FALSE, 1)"),
        format!("INSERT INTO package (id, name, repository, createdat, autoupdated, abandoned, replacementpackage, updatefailurenotified) VALUES (2, 'acme/tool', 'https://git.example/acme/tool.git', {t}, FALSE, TRUE, 'acme/new-tool', FALSE)"),
        format!("INSERT INTO package (id, name, repo_type, repository, createdat, autoupdated, abandoned, updatefailurenotified) VALUES (3, 'acme/other', 'artifact', '_unset', {t}, FALSE, FALSE, FALSE)"),
        format!("INSERT INTO package (id, name, repo_type, repository, createdat, autoupdated, abandoned, updatefailurenotified) VALUES (4, 'acme/custom', 'custom', '_unset', {t}, FALSE, FALSE, FALSE)"),
        format!("INSERT INTO package (id, name, repo_type, repository, createdat, autoupdated, abandoned, updatefailurenotified) VALUES (5, 'acme/virtual', 'virtual', '_unset', {t}, FALSE, FALSE, FALSE)"),
        "INSERT INTO user_group (id, name, expired_updates_at, proxies) VALUES (1, 'customers', NULL, 'packagist,nope')".to_owned(),
        "INSERT INTO group_acl_permission (id, group_id, package_id, version) VALUES (1, 1, 1, '^1.0')".to_owned(),
        "INSERT INTO group_acl_permission (id, group_id, package_id, version) VALUES (2, 1, 2, NULL)".to_owned(),
        format!("INSERT INTO fos_user (id, username, username_canonical, email, email_canonical, createdat, apitoken, failurenotifications, enabled, password, roles, sub_repos) VALUES (1, 'admin', 'admin', 'admin@example.com', 'admin@example.com', {t}, '{ADMIN_TOKEN}', TRUE, TRUE, {}, '[\"ROLE_ADMIN\"]', NULL)", quote(bcrypt)),
        format!("INSERT INTO fos_user (id, username, username_canonical, email, email_canonical, createdat, apitoken, failurenotifications, enabled, password, roles, expired_updates_at, sub_repos) VALUES (2, 'carol@example.com', 'carol@example.com', 'carol@example.com', 'carol@example.com', {t}, '{CAROL_TOKEN}', TRUE, TRUE, {}, 'a:0:{{}}', '2099-06-01', NULL)", quote(argon2id)),
        format!("INSERT INTO fos_user (id, username, username_canonical, email, email_canonical, createdat, failurenotifications, enabled, roles) VALUES (3, 'not a name', 'not a name', 'x@example.com', 'x@example.com', {t}, TRUE, TRUE, '[]')"),
        format!("INSERT INTO fos_user (id, username, username_canonical, email, email_canonical, createdat, apitoken, failurenotifications, enabled, roles, sub_repos) VALUES (4, 'dave', 'dave', 'dave@example.com', 'dave@example.com', {t}, 'DaveToken12345678901', TRUE, FALSE, '[\"ROLE_FULL_CUSTOMER\"]', '[0,1]')"),
        format!("INSERT INTO fos_user (id, username, username_canonical, email, email_canonical, createdat, apitoken, failurenotifications, enabled, roles) VALUES (5, 'mallory', 'mallory', 'mallory@example.com', 'mallory@example.com', {t}, '{MALLORY_TOKEN}', TRUE, TRUE, '[\"ROLE_ADMIN\"]')"),
        // A second account holding carol's token (a hand-edited database).
        format!("INSERT INTO fos_user (id, username, username_canonical, email, email_canonical, createdat, apitoken, failurenotifications, enabled, roles) VALUES (6, 'twin', 'twin', 'twin@example.com', 'twin@example.com', {t}, '{CAROL_TOKEN}', TRUE, TRUE, '[\"ROLE_ADMIN\"]')"),
        "INSERT INTO fos_user_access_group (user_id, group_id) VALUES (2, 1)".to_owned(),
        // Packeton's update expiry, on a user and on a group: versions released after
        // it are out of reach.
        format!("INSERT INTO fos_user (id, username, username_canonical, email, email_canonical, createdat, apitoken, failurenotifications, enabled, roles, expired_updates_at) VALUES (7, 'erin', 'erin', 'erin@example.com', 'erin@example.com', {t}, '{ERIN_TOKEN}', TRUE, TRUE, '[]', '2025-03-01')"),
        "INSERT INTO fos_user_access_group (user_id, group_id) VALUES (7, 1)".to_owned(),
        "INSERT INTO user_group (id, name, expired_updates_at, proxies) VALUES (2, 'frozen', '2025-03-01 00:00:00', NULL)".to_owned(),
        "INSERT INTO group_acl_permission (id, group_id, package_id, version) VALUES (3, 2, 1, NULL)".to_owned(),
        format!("INSERT INTO fos_user (id, username, username_canonical, email, email_canonical, createdat, apitoken, failurenotifications, enabled, roles) VALUES (8, 'frank', 'frank', 'frank@example.com', 'frank@example.com', {t}, '{FRANK_TOKEN}', TRUE, TRUE, '[]')"),
        "INSERT INTO fos_user_access_group (user_id, group_id) VALUES (8, 2)".to_owned(),
        format!("INSERT INTO user_api_token (id, owner_id, name, api_token, created_at, expire_at, scores) VALUES (1, 2, 'ci', '{PAT}', {t}, NULL, '[\"metadata\",\"feeds\"]')"),
        // Outgoing webhooks: one that carries over (with what does not), and one for
        // each reason to leave a hook out.
        format!("INSERT INTO webhook (id, name, url, events, active, package_restriction, options, payload, method, created_at) VALUES (1, 'Notify CI', 'https://ci.example/hooks/packeton', 'new_release,update_release,push_new_event', TRUE, '/^acme\\/.*$/', '{{\"headers\":{{\"Authorization\":\"Bearer {HOOK_HEADER_SECRET}\"}}}}', '{{\"text\": \"{{{{ package.name }}}}\"}}', 'PUT', {t})"),
        format!("INSERT INTO webhook (id, name, url, events, active, created_at) VALUES (2, 'chat', 'https://chat.example/{{{{ package.name }}}}', 'new_release', TRUE, {t})"),
        format!("INSERT INTO webhook (id, name, url, events, active, created_at) VALUES (3, 'old', 'https://old.example/x', 'new_release', FALSE, {t})"),
        format!("INSERT INTO webhook (id, name, url, events, active, created_at) VALUES (4, 'logins', 'https://audit.example/x', 'user_login', TRUE, {t})"),
        format!("INSERT INTO webhook (id, name, url, events, active, package_restriction, created_at) VALUES (5, 'odd', 'https://odd.example/x', 'new_release', TRUE, '/^acme\\/(lib|tool)$/', {t})"),
        format!("INSERT INTO webhook (id, name, url, events, active, created_at) VALUES (6, 'metadata', 'http://169.254.169.254/latest/meta-data', 'new_release', TRUE, {t})"),
    ]
    .into_iter()
    .chain(versions.iter().map(FixtureVersion::insert))
    .chain(versions.iter().map(FixtureVersion::require_link))
    .collect::<Vec<String>>()
    .join(";\n")
        + ";\n"
}

/// A version in the fixture: its row, and its archive in Packeton's storage (or not).
struct FixtureVersion {
    id: i64,
    package: i64,
    name: &'static str,
    version: &'static str,
    archive: Vec<u8>,
    /// Where Packeton keeps the archive, under its project directory (`None`: lost).
    stored_at: Option<String>,
    reference: String,
    /// The `shasum` Packeton published for the dist.
    shasum: String,
    /// Its archive is a link to a file outside Packeton's directories.
    outside: bool,
    /// When Packeton says it was released (UTC).
    released: &'static str,
}

impl FixtureVersion {
    fn git(id: i64, package: i64, name: &'static str, version: &'static str) -> FixtureVersion {
        let archive = package_zip(name, &[("php", ">=8.1")], &format!("{name} {version}"));
        let reference = format!("{:040x}", id * 7919);
        FixtureVersion {
            id,
            package,
            name,
            version,
            stored_at: Some(format!("var/zipball/{name}/{version}-{reference}.zip")),
            reference,
            archive,
            shasum: String::new(),
            outside: false,
            released: "2025-01-02 03:04:05",
        }
    }

    /// Whether Packeton published a checksum its archive does not have.
    fn corrupted(&self) -> bool {
        self.shasum == "0".repeat(40)
    }

    fn artifact(
        id: i64,
        package: i64,
        name: &'static str,
        version: &'static str,
    ) -> FixtureVersion {
        let archive = package_zip(name, &[], &format!("{name} {version}"));
        // Packeton names an upload `sha1(random_bytes(30))` and publishes the
        // archive's own sha1 as the dist shasum.
        let reference = format!("{:040x}", id * 104_729);
        FixtureVersion {
            id,
            package,
            name,
            version,
            stored_at: Some(format!("var/.composer/artifact_storage/{reference}.zip")),
            reference,
            shasum: sha1_hex(&archive),
            archive,
            outside: false,
            released: "2025-01-02 03:04:05",
        }
    }

    fn insert(&self) -> String {
        let (version, name, reference) = (self.version, self.name, &self.reference);
        let dist = format!(
            "{{\"type\":\"zip\",\"url\":\"https:\\/\\/old.example\\/zipball\\/{name}\\/{reference}.zip\",\"reference\":\"{reference}\",\"shasum\":\"{}\"}}",
            self.shasum
        );
        format!(
            "INSERT INTO package_version (id, package_id, name, description, type, version, normalizedversion, development, license, dist, autoload, createdat, updatedat, releasedat) \
             VALUES ({}, {}, '{name}', 'The {name} library', 'library', '{version}', '{version}.0', FALSE, '[\"MIT\"]', '{dist}', '{{\"psr-4\":{{\"Acme\\\\\":\"src\\/\"}}}}', '2025-01-02 03:04:05', '2025-01-02 03:04:05', '{}')",
            self.id, self.package, self.released
        )
    }

    fn require_link(&self) -> String {
        format!(
            "INSERT INTO link_require (id, version_id, packagename, packageversion) VALUES ({}, {}, 'php', '>=8.1')",
            self.id, self.id
        )
    }
}

/// The fixture's versions: acme/lib 1.0.0 and 2.0.0 (git, archived by Packeton), 1.5.0
/// (its archive corrupted), acme/tool 1.0.0 (its archive lost), acme/other 1.0.0 (an
/// uploaded artifact).
fn fixture_versions() -> Vec<FixtureVersion> {
    let mut corrupted = FixtureVersion::git(3, 1, "acme/lib", "1.5.0");
    corrupted.shasum = "0".repeat(40);
    let mut lost = FixtureVersion::git(4, 2, "acme/tool", "1.0.0");
    lost.stored_at = None;
    let mut linked = FixtureVersion::git(6, 2, "acme/tool", "2.0.0");
    linked.stored_at = Some(format!(
        "var/zipball/acme/tool/2.0.0-{}.zip",
        linked.reference
    ));
    linked.outside = true;
    let mut later = FixtureVersion::git(8, 1, "acme/lib", "1.1.0");
    later.released = "2025-06-01 00:00:00";
    vec![
        later,
        linked,
        FixtureVersion::git(1, 1, "acme/lib", "1.0.0"),
        FixtureVersion::git(2, 1, "acme/lib", "2.0.0"),
        corrupted,
        lost,
        FixtureVersion::artifact(5, 3, "acme/other", "1.0.0"),
        // Pushed with the composer-push plugin: a `custom` package.
        FixtureVersion::artifact(7, 4, "acme/custom", "1.0.0"),
    ]
}

/// A Packeton database on `engine`, with the schema and the fixture rows, its archives
/// in `home`.
fn packeton_database(engine: &'static str, home: ArchiveHome) -> PacketonDatabase {
    let (bcrypt, argon2id) = php_hashes("correct horse");
    let schema = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/fixtures/packeton/schema-{engine}.sql")),
    )
    .unwrap();
    let versions = fixture_versions();
    let encrypted_auth = packeton_encrypt(
        r#"{"http-basic":{"git.example":{"username":"bot","password":"s3cret"}}}"#,
        APP_SECRET,
    );
    let rows = fixture_rows(&bcrypt, &argon2id, &encrypted_auth, &versions);
    let project = TempDir::new("packeton-project");
    let mut env =
        format!("APP_ENV=prod\nAPP_SECRET={APP_SECRET}\nAPP_PARTNER_PASSWORD=partner-pw\n");
    let bucket = (home == ArchiveHome::Bucket).then(|| {
        let bucket = testkit::S3sFs::start("packeton-bucket");
        env.push_str("STORAGE_SOURCE=s3\nSTORAGE_AWS_ARGS='");
        env.push_str(&bucket.storage_aws_args());
        env.push_str("'\n");
        bucket
    });
    std::fs::write(project.path().join(".env"), env).unwrap();
    // Packeton's mirrors, as its documentation writes them.
    std::fs::create_dir_all(project.path().join("config/packages")).unwrap();
    std::fs::write(
        project.path().join("config/packages/packeton.yaml"),
        "packeton:\n    mirrors:\n        packagist:\n            url: https://repo.packagist.org\n        \
         partner:\n            url: https://composer.partner.example/\n            \
         http_basic: {username: bot, password: '%env(APP_PARTNER_PASSWORD)%'}\n            \
         available_package_patterns: ['partner/*']\n            logo: 'https://partner.example/logo.png'\n",
    )
    .unwrap();
    let outside = TempDir::new("not-packetons");
    for version in &versions {
        if let (Some(at), Some(bucket)) = (&version.stored_at, &bucket) {
            let path = bucket.root.join("packeton-bucket").join(bucket_key(at));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            // No links in a bucket: what stands for a hostile object is one that is
            // not a zip.
            let bytes: &[u8] = if version.outside {
                b"#!/bin/sh\n"
            } else {
                &version.archive
            };
            std::fs::write(path, bytes).unwrap();
        } else if let Some(at) = &version.stored_at {
            let path = project.path().join(at);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            if version.outside {
                let target = outside.path().join("server-file.zip");
                std::fs::write(&target, &version.archive).unwrap();
                std::os::unix::fs::symlink(&target, &path).unwrap();
            } else {
                std::fs::write(path, &version.archive).unwrap();
            }
        }
    }
    let name = testkit::unique_name("packeton").replace('-', "_");
    let (url, connect) = match engine {
        "sqlite" => {
            let path = project.path().join("var/app.db");
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            (
                format!("sqlite://{}", path.display()),
                format!("sqlite://{}?mode=rwc", path.display()),
            )
        }
        "mysql" => {
            let server = std::env::var("PACKYARD_TEST_MARIADB").unwrap();
            block_on(async {
                sqlx::any::install_default_drivers();
                let admin = sqlx::AnyPool::connect(&format!("{server}/mysql"))
                    .await
                    .unwrap();
                admin
                    .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .unwrap();
            });
            (
                format!("{server}/{name}?serverVersion=10.11.2-MariaDB&charset=utf8mb4"),
                format!("{server}/{name}"),
            )
        }
        _ => {
            let database = postgres_database();
            (
                format!(
                    "{}?serverVersion=15&charset=utf8",
                    database.replacen("postgres://", "postgresql://", 1)
                ),
                database,
            )
        }
    };
    block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&connect).await.unwrap();
        pool.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(schema)))
            .await
            .unwrap();
        pool.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(rows)))
            .await
            .unwrap();
        pool.close().await;
    });
    PacketonDatabase {
        url,
        engine,
        project,
        versions,
        bucket,
        _outside: outside,
    }
}

/// The arguments of `packyard import packeton` of `database` (with Packeton's `.env`
/// and YAML configuration).
fn import_args(database: &PacketonDatabase) -> Vec<String> {
    let project = database.project.path();
    [
        "import",
        "packeton",
        "--database-url",
        &database.url,
        "--packeton-env",
        &project.join(".env").display().to_string(),
        "--packeton-config",
        &project
            .join("config/packages/packeton.yaml")
            .display()
            .to_string(),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// `packyard import packeton` of `database` into `server`, then `extra`; its report.
fn run_import(server: &Server, database: &PacketonDatabase, extra: &[&str]) -> String {
    let mut args = import_args(database);
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    server.cli_ok(&args)
}

/// The report lines of `kind` and `name`.
fn line<'a>(report: &'a str, kind: &str, name: &str) -> &'a str {
    report
        .lines()
        .find(|line| line.starts_with(&format!("{kind}\t{name}\t")))
        .unwrap_or_else(|| panic!("no {kind} {name} in:\n{report}"))
}

/// Imports `database` into a fresh server and checks what every engine must give; the
/// server, the customer's `Authorization` and the first import's report are returned
/// for more.
fn imports_the_same_on(database: &PacketonDatabase) -> (Server, String, String) {
    let server = Server::start_with(&[("PACKYARD_SECRET", "packyard's own secret")]);
    server.add_user("operator", true);
    // A plain user of packyard's own, named as a Packeton admin is.
    let own_mallory = server.add_plain_user("mallory", &[]);
    let import = |extra: &[&str]| run_import(&server, database, extra);
    let users_before = server.cli_ok(&["user", "list"]);

    // A dry run reports what would happen and writes nothing.
    let dry = import(&["--dry-run"]);
    assert!(
        line(&dry, "user", "carol@example.com").ends_with("would create"),
        "{dry}"
    );
    assert!(dry.contains("dry run: nothing was written"), "{dry}");
    assert_eq!(server.cli_ok(&["user", "list"]), users_before);
    assert_eq!(server.cli_ok(&["webhook", "list"]).trim(), "");
    assert!(
        !server.data.path().join("storage").exists()
            || files_under(&server.data.path().join("storage")).is_empty()
    );
    assert_eq!(
        get(
            &server.url("/p2/acme/lib.json"),
            &[("Authorization", &basic("admin", ADMIN_TOKEN))]
        )
        .status,
        401
    );

    let report = import(&[]);
    let engine = database.engine;
    for (kind, name) in [
        ("user", "admin"),
        ("user", "carol@example.com"),
        ("user", "dave"),
        ("group", "customers"),
        ("sub-repository", "client-a"),
        ("package", "acme/lib"),
        ("package", "acme/tool"),
        ("package", "acme/other"),
        ("package", "acme/custom"),
        ("webhook", "Notify-CI"),
    ] {
        assert!(
            line(&report, kind, name).ends_with("\tcreated"),
            "{engine}: {report}"
        );
    }
    assert!(
        line(&report, "user", "not a name").contains("skipped: invalid user name"),
        "{report}"
    );
    assert!(
        line(&report, "package", "acme/virtual").contains("skipped: a virtual package"),
        "{report}"
    );
    // Another installation's data changes nothing packyard had: mallory stays a plain
    // user with its own token, and Packeton's admin token for that name gets nowhere.
    assert!(
        line(&report, "user", "mallory")
            .contains("skipped: packyard already has a user named mallory that no import made"),
        "{report}"
    );
    let users = server.cli_ok(&["user", "list"]);
    assert!(users.contains("user mallory\t"), "{users}");
    let as_admin = get(
        &server.url("/api/users"),
        &[("Authorization", &basic("mallory", MALLORY_TOKEN))],
    );
    assert_eq!(as_admin.status, 401, "{}", as_admin.text());
    let own = get(
        &server.url("/packages.json"),
        &[("Authorization", &basic("mallory", &own_mallory))],
    );
    assert_eq!(own.status, 200);
    let hostile_object = match database.bucket {
        Some(_) => "is not a zip archive",
        None => "is not a regular file",
    };
    for note in [
        hostile_object,
        "its landing page (HTML markup) is not carried over",
        "mirrors not configured here, left out: nope",
        "disabled in Packeton: its access expires at the import",
        "scopes packyard does not have, left out: feeds",
        "version 1.5.0 not imported: its archive",
        "is corrupted: its sha1 is",
        "version 1.0.0: its archive is missing: ",
        "version 2.0.0 not imported:",
        "its apiToken is another user's here too: not imported",
        "named \"Notify CI\" in Packeton",
        "events packyard does not send, left out: push_new_event",
        "its payload template is not carried over",
        "it was sent by PUT: packyard POSTs",
        "its request headers are not carried over: Authorization",
    ] {
        assert!(report.contains(note), "{engine}: {note} in\n{report}");
    }
    for (hook, why) in [
        ("chat", "its URL is a Twig template"),
        ("old", "inactive in Packeton"),
        (
            "logins",
            "none of its events (user_login) is one packyard sends",
        ),
        ("odd", "its package restriction"),
        ("metadata", "url: "),
    ] {
        assert!(
            line(&report, "webhook", hook).contains(&format!("skipped: {why}")),
            "{engine}: {hook}: {report}"
        );
    }
    assert!(!report.contains(HOOK_HEADER_SECRET), "{report}");
    // Mirrors live in packyard's config file: the one it lacks is printed to add.
    assert!(line(&report, "mirror", "packagist").ends_with("\tunchanged"));
    assert!(
        line(&report, "mirror", "partner").ends_with("\tto add to PACKYARD_CONFIG (below)"),
        "{report}"
    );
    assert!(report.contains("not used by packyard: logo"), "{report}");
    let block = report
        .split("add to PACKYARD_CONFIG (this holds the mirrors' credentials), then restart:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no mirrors block in {report}"));
    let block: serde_yaml_ng::Value = serde_yaml_ng::from_str(block).unwrap();
    assert_eq!(
        block["mirrors"]["partner"]["http_basic"]["password"].as_str(),
        Some("partner-pw"),
        "{report}"
    );
    let hooks = server.cli_ok(&["webhook", "list"]);
    assert_eq!(
        hooks.trim(),
        "Notify-CI\thttps://ci.example/hooks/packeton\tnew_release,update_release\tacme/*",
        "{engine}"
    );
    let users = server.cli_ok(&["user", "list"]);
    assert!(users.contains("admin admin\t"), "{users}");
    let carol = users
        .lines()
        .find(|l| l.contains("carol@example.com"))
        .unwrap();
    assert!(carol.starts_with("user carol@example.com\t"), "{carol}");
    assert!(
        carol.contains("updates until: 2099-06-01T00:00:00+00:00"),
        "{carol}"
    );
    assert!(carol.contains("sub-repositories: root"), "{carol}");
    assert!(carol.contains("groups: customers"), "{carol}");
    let groups = server.cli_ok(&["group", "list"]);
    assert!(
        groups.contains(
            "customers\tupdates until: none\tminimum release age: none\tmirrors: packagist\t"
        ),
        "{groups}"
    );
    assert!(
        groups.contains("  acme/lib\t^1.0") && groups.contains("  acme/tool\tall versions"),
        "{groups}"
    );
    let subrepos = server.cli_ok(&["subrepo", "list"]);
    assert!(
        subrepos
            .contains("client-a\tClient A\tacme/lib\tclient-a.test, www.client-a.test\tprivate"),
        "{subrepos}"
    );

    // The customer's Packeton credentials, unchanged: user name and apiToken see what
    // the ACL grants, and nothing else.
    let carol_auth = basic("carol@example.com", CAROL_TOKEN);
    // (The server takes the imported rules within 2 s.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(8);
    let root: Value = loop {
        let reply = get(
            &server.url("/packages.json"),
            &[("Authorization", &carol_auth)],
        );
        if reply.status == 200 && reply.json()["available-packages"] != serde_json::json!([]) {
            break reply.json();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{engine}: {}",
            reply.text()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(
        root["available-packages"],
        serde_json::json!(["acme/lib", "acme/tool"]),
        "{engine}: {root}"
    );
    // A personal access token works alone, with its scopes.
    let pat = format!("pat_{PAT}");
    let by_pat = get(&server.url(&format!("/packages.json?token={pat}")), &[]);
    assert_eq!(by_pat.status, 200, "{engine}: {}", by_pat.text());
    let admin_api = get(
        &server.url("/api/users"),
        &[("Authorization", &basic("admin", ADMIN_TOKEN))],
    );
    assert_eq!(admin_api.status, 200, "{engine}: {}", admin_api.text());
    // The disabled user's token is refused.
    let dave = get(
        &server.url("/packages.json"),
        &[("Authorization", &basic("dave", "DaveToken12345678901"))],
    );
    assert_eq!(dave.status, 401, "{engine}: {}", dave.text());

    // An old composer.lock's dist URL gives Packeton's very bytes, for git versions
    // and uploaded archives alike.
    for version in database
        .versions
        .iter()
        .filter(|v| v.stored_at.is_some() && !v.corrupted() && !v.outside)
    {
        let url = server.url(&format!(
            "/zipball/{}/{}.zip",
            version.name, version.reference
        ));
        let archive = get(&url, &[("Authorization", &basic("admin", ADMIN_TOKEN))]);
        assert_eq!(archive.status, 200, "{engine}: {url}: {}", archive.text());
        assert!(
            archive.body == version.archive,
            "{engine}: {url} gave other bytes"
        );
    }
    // And under the sub-repository, as its lock files have it.
    let in_client_a = database
        .versions
        .iter()
        .find(|v| v.name == "acme/lib" && v.version == "1.0.0")
        .unwrap();
    let url = server.url(&format!(
        "/client-a/zipball/acme/lib/{}.zip",
        in_client_a.reference
    ));
    let archive = get(&url, &[("Authorization", &basic("admin", ADMIN_TOKEN))]);
    assert_eq!(archive.status, 200, "{engine}: {url}: {}", archive.text());
    assert!(archive.body == in_client_a.archive, "{engine}: {url}");
    // The versions as Packeton published them (the corrupted one left out).
    let lib: Value = get(
        &server.url("/p2/acme/lib.json"),
        &[("Authorization", &basic("admin", ADMIN_TOKEN))],
    )
    .json();
    let published: Vec<&str> = lib["packages"]["acme/lib"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["version"].as_str())
        .collect();
    assert_eq!(published, ["2.0.0", "1.1.0", "1.0.0"], "{engine}: {lib}");
    // Packeton's update expiry: erin's own (2025-03-01) and frank's group's keep
    // 1.1.0 (released 2025-06-01) out of reach.
    for (user, token, expected) in [
        ("erin", ERIN_TOKEN, vec!["1.0.0"]),
        ("frank", FRANK_TOKEN, vec!["2.0.0", "1.0.0"]),
        ("carol@example.com", CAROL_TOKEN, vec!["1.1.0", "1.0.0"]),
    ] {
        let seen: Value = get(
            &server.url("/p2/acme/lib.json"),
            &[("Authorization", &basic(user, token))],
        )
        .json();
        let versions: Vec<&str> = seen["packages"]["acme/lib"]
            .as_array()
            .unwrap_or_else(|| panic!("{engine}: {user}: {seen}"))
            .iter()
            .filter_map(|v| v["version"].as_str())
            .collect();
        assert_eq!(versions, expected, "{engine}: {user}: {seen}");
    }
    let newest = &lib["packages"]["acme/lib"][0];
    assert_eq!(
        newest["require"],
        serde_json::json!({"php": ">=8.1"}),
        "{engine}: {lib}"
    );
    assert_eq!(newest["time"], "2025-01-02T03:04:05+00:00");
    // Published when Packeton published it: an imported version is not a new one.
    assert_eq!(newest["published-time"], "2025-01-02T03:04:05+00:00");
    let tool: Value = get(
        &server.url("/p2/acme/tool.json"),
        &[("Authorization", &basic("admin", ADMIN_TOKEN))],
    )
    .json();
    assert_eq!(
        tool["packages"]["acme/tool"][0]["abandoned"], "acme/new-tool",
        "{engine}: abandoned with its replacement, as Packeton published it: {tool}"
    );
    assert_eq!(newest["license"], serde_json::json!(["MIT"]));

    // The git credentials, opened with Packeton's APP_SECRET and sealed with ours.
    assert!(!report.contains("its credentials"), "{engine}: {report}");
    assert!(sealed_credentials(&server, "acme/lib").is_some_and(|c| !c.contains("s3cret")));

    // Again: nothing changes.
    let again = import(&[]);
    assert!(
        !again
            .lines()
            .any(|l| l.ends_with("\tcreated") || l.ends_with("\tupdated")),
        "{engine}: a second run changed something:\n{again}"
    );
    (server, carol_auth, report)
}

#[test]
fn a_packeton_sqlite_installation_moves_with_its_credentials_and_passwords() {
    testkit::needs!(Composer, Php);
    let database = packeton_database("sqlite", ArchiveHome::Disk);
    let (server, _, _) = imports_the_same_on(&database);

    // The real composer, with the customer's Packeton user name and apiToken.
    let project = ComposerProject::with_repository(
        &server,
        &server.url(""),
        "carol@example.com",
        CAROL_TOKEN,
    );
    project.require("acme/lib");
    assert_eq!(
        project.lock()["packages"][0]["version"],
        "1.1.0",
        "^1.0 granted: 2.0.0 stays out of reach"
    );
    // With a user's update expiry, Composer resolves what was released before it.
    let frozen = ComposerProject::with_repository(&server, &server.url(""), "erin", ERIN_TOKEN);
    frozen.require("acme/lib");
    assert_eq!(frozen.lock()["packages"][0]["version"], "1.0.0");
    let refused = project.run(&["require", "acme/other", "--no-audit"]);
    assert!(!refused.status.success());

    // The web login takes the old passwords (bcrypt and argon2id from PHP) and
    // replaces them by packyard's argon2id.
    for user in ["admin", "carol@example.com"] {
        let reply = try_login(&server, user, "correct horse", &[]);
        assert_eq!(reply.status, 303, "{user}: {}", reply.text());
        let hash = stored_password(&server, user);
        assert!(hash.starts_with("$argon2id$v=19$m=19456"), "{user}: {hash}");
        let again = try_login(&server, user, "correct horse", &[]);
        assert_eq!(again.status, 303, "{user} after the rehash");
        assert_eq!(try_login(&server, user, "wrong horse", &[]).status, 401);
    }
    // A later run leaves the rehashed passwords alone.
    let again = run_import(&server, &database, &[]);
    assert!(
        line(&again, "user", "carol@example.com").ends_with("unchanged"),
        "{again}"
    );
    assert!(stored_password(&server, "carol@example.com").starts_with("$argon2id$v=19$m=19456"));

    // An archive Packeton's storage here lacks is downloaded from the running Packeton
    // (--packeton-url), as its admin, and checked alike. The stand-in serves Packeton's
    // zipball route: Packeton's PHP dependencies cannot be installed on this machine.
    let lost = database
        .versions
        .iter()
        .find(|v| v.stored_at.is_none())
        .unwrap();
    let running = testkit::upstream::UpstreamRepo::new().serve();
    let path = format!("zipball/{}/{}.zip", lost.name, lost.reference);
    running.put_file(&path, lost.archive.clone());
    running.require_basic_auth(Some(("admin", ADMIN_TOKEN)));
    let with_url = |url: &str| {
        let mut args = import_args(&database);
        args.extend(["--packeton-url".to_owned(), url.to_owned()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        server.cli_with(&[("PACKYARD_ALLOW_NETWORKS", "127.0.0.0/8")], &args)
    };
    let fetched = with_url(&running.url());
    let fetched_report = output_text(&fetched);
    assert!(fetched.status.success(), "{fetched_report}");
    assert!(
        line(&fetched_report, "package", lost.name).ends_with("\tupdated"),
        "{fetched_report}"
    );
    assert_eq!(
        running.count(&format!("/{path}")),
        1,
        "{:?}",
        running.requests()
    );
    assert_eq!(
        running.total(),
        1,
        "only what is missing is asked for: {:?}",
        running.requests()
    );
    let url = server.url(&format!("/zipball/{}/{}.zip", lost.name, lost.reference));
    let archive = get(&url, &[("Authorization", &basic("admin", ADMIN_TOKEN))]);
    assert_eq!(archive.status, 200, "{}", archive.text());
    assert!(archive.body == lost.archive, "{url} gave other bytes");
    // A Packeton that refuses the admin is named in the report, never quoted.
    running.require_basic_auth(Some(("admin", "another token")));
    running.put_file(&path, b"Packeton's error page".to_vec());
    let refused = with_url(&running.url());
    assert!(refused.status.success());
    let refused_report = output_text(&refused);
    assert!(!refused_report.contains("error page"), "{refused_report}");
    assert!(
        refused_report.contains(&format!("{path} answered 401")),
        "{refused_report}"
    );
}

#[test]
fn a_packeton_mariadb_installation_imports_alike() {
    testkit::needs!(MariaDb, Php);
    imports_the_same_on(&packeton_database("mysql", ArchiveHome::Disk));
}

#[test]
fn a_packeton_postgresql_installation_imports_alike() {
    testkit::needs!(Postgres, Php, S3sFs);
    // This one keeps its archives in S3, under Packeton's default bucket and prefixes.
    let database = packeton_database("postgres", ArchiveHome::Bucket);
    let (_server, _, report) = imports_the_same_on(&database);
    let bucket = database.bucket.as_ref().unwrap();
    assert!(
        report.contains("s3://packeton-bucket"),
        "the report names the bucket: {report}"
    );
    // Packeton's bucket is only read.
    assert!(
        !bucket
            .keys("packeton-bucket")
            .iter()
            .any(|key| !key.starts_with("packeton/") && !key.starts_with("artifact/")),
        "{:?}",
        bucket.keys("packeton-bucket")
    );
}

#[test]
fn a_database_url_that_cannot_be_read_is_named() {
    let server = Server::start();
    for (url, expected) in [
        (
            "sqlite:///%kernel.project_dir%/var/app.db",
            "still holds %kernel.project_dir%",
        ),
        ("oracle://x", "unsupported DATABASE_URL"),
        (
            "sqlite:///nonexistent/app.db",
            "cannot open the Packeton database",
        ),
    ] {
        let failed = server.cli(&["import", "packeton", "--database-url", url]);
        assert!(!failed.status.success());
        assert!(
            output_text(&failed).contains(expected),
            "{url}: {}",
            output_text(&failed)
        );
    }
}

/// The sealed credentials packyard stores for `package`.
fn sealed_credentials(server: &Server, package: &str) -> Option<String> {
    packyard_text(
        server,
        "SELECT credentials FROM packages WHERE name = $1",
        package,
    )
}

/// The password hash packyard stores for `user`.
fn stored_password(server: &Server, user: &str) -> String {
    packyard_text(
        server,
        "SELECT password_hash FROM users WHERE name = $1",
        user,
    )
    .unwrap_or_else(|| panic!("{user} has no password"))
}

/// The text `query` (bound to `value`) reads from the server's SQLite database.
fn packyard_text(server: &Server, query: &'static str, value: &str) -> Option<String> {
    let database = format!(
        "sqlite://{}",
        server.data.path().join("packyard.db").display()
    );
    block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&database).await.unwrap();
        let text: Option<String> = sqlx::query_scalar(query)
            .bind(value)
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        text
    })
}

#[test]
fn a_satis_configuration_adds_its_git_repositories_as_packages() {
    testkit::needs!(Git);
    let server = Server::start();
    let admin = server.add_user("admin", true);
    let (wanted, _) = crate::common::git::library("acme/wanted", "1.0.0");
    let (unwanted, _) = crate::common::git::library("acme/unwanted", "1.0.0");
    let dir = TempDir::new("satis");
    let satis = dir.path().join("satis.json");
    let config = serde_json::json!({
        "name": "acme/satis",
        "homepage": "https://satis.example",
        "repositories": [
            {"type": "vcs", "url": wanted.url()},
            {"type": "git", "url": unwanted.url()},
            {"type": "composer", "url": "https://repo.packagist.org"},
            {"type": "artifact", "url": "/srv/zips"},
            {"type": "package", "package": {"name": "x/y", "version": "1.0.0"}},
        ],
        "require": {"acme/wanted": "^1.0"},
        "require-all": false,
    });
    std::fs::write(&satis, config.to_string()).unwrap();
    let satis = satis.display().to_string();

    let dry = server.cli_ok(&["import", "satis", &satis, "--dry-run"]);
    assert!(dry.contains("dry run: nothing was written"), "{dry}");
    assert_eq!(p2(&server, "admin", &admin, "acme/wanted").status, 404);

    let report = server.cli_ok(&["import", "satis", &satis]);
    assert!(
        line(&report, "repository", &wanted.url()).ends_with("\tcreated"),
        "{report}"
    );
    assert!(
        report.contains("package acme/wanted with 2 versions"),
        "the tag and the branch: {report}"
    );
    assert!(
        report.contains("Satis kept only versions matching \"^1.0\""),
        "{report}"
    );
    assert!(
        line(&report, "repository", &unwanted.url())
            .contains("skipped: its package acme/unwanted is not in the file's require list"),
        "{report}"
    );
    for (kind, why) in [
        ("https://repo.packagist.org", "define it as a mirror"),
        ("/srv/zips", "packyard package upload"),
        ("package", "inline package definition"),
    ] {
        assert!(line(&report, "repository", kind).contains(why), "{report}");
    }
    wait_for_package(&server, "admin", &admin, "acme/wanted");
    assert_eq!(p2(&server, "admin", &admin, "acme/unwanted").status, 404);

    // Again: nothing is added twice.
    let again = server.cli_ok(&["import", "satis", &satis]);
    assert!(
        line(&again, "repository", &wanted.url()).ends_with("\tunchanged"),
        "{again}"
    );
    let missing = server.cli(&["import", "satis", "/nonexistent/satis.json"]);
    assert!(output_text(&missing).contains("cannot read /nonexistent/satis.json"));
}
