//! packyard's git scanner against Composer's own: for generated repositories full of odd
//! tags and branches, `git_packages::scan::scan()` must find exactly the versions (pretty and
//! normalized), commits, default-branch flags and release dates that Composer 2.5.5's
//! `VcsRepository` loads from the same repository.
//!
//! Composer's side runs its real classes (from the installed Composer, through a small
//! PHP script) on the repository path, so every package it loads is compared, not only
//! what `composer show` prints. One shape is also checked through `composer show --all`
//! to show that the script sees what the command line sees.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use packyard::git_packages::git::{self, GitAuth};
use packyard::git_packages::scan::{self, ScanError, ScanOutcome};
use serde_json::{Value, json};
use testkit::TempDir;

/// Composer's `VcsRepository` on one repository: every package it loads, as JSON.
const COMPOSER_SCAN: &str = r"<?php
require '/usr/share/php/Composer/autoload.php';

use Composer\Factory;
use Composer\IO\BufferIO;
use Composer\Package\AliasPackage;
use Composer\Repository\VcsRepository;
use Composer\Util\ErrorHandler;
use Symfony\Component\Console\Output\OutputInterface;

$io = new BufferIO('', OutputInterface::VERBOSITY_VERY_VERBOSE);
ErrorHandler::register($io);
$config = Factory::createConfig($io);
$repository = new VcsRepository(['type' => 'vcs', 'url' => $argv[1]], $io, $config, Factory::createHttpDownloader($io, $config));
$packages = [];
foreach ($repository->getPackages() as $package) {
    $packages[] = [
        'name' => $package->getName(),
        'version' => $package->getPrettyVersion(),
        'version_normalized' => $package->getVersion(),
        'reference' => $package->getSourceReference(),
        'default_branch' => $package->isDefaultBranch(),
        'time' => $package->getReleaseDate() ? $package->getReleaseDate()->getTimestamp() : null,
        'alias' => $package instanceof AliasPackage,
    ];
}
echo json_encode(['packages' => $packages, 'log' => $io->getOutput()], JSON_UNESCAPED_SLASHES);
";

/// One loaded version, as both sides describe it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Loaded {
    version: String,
    version_normalized: String,
    reference: String,
    default_branch: bool,
    time: Option<i64>,
}

/// A git repository built commit by commit, with fixed identities and dates: the author
/// date and the committer date differ, to show which one is the release date.
struct Repo {
    dir: PathBuf,
    clock: i64,
}

impl Repo {
    fn init(dir: &Path, default_branch: &str) -> Repo {
        std::fs::create_dir_all(dir).unwrap();
        let repo = Repo {
            dir: dir.to_owned(),
            clock: 1_704_067_200,
        };
        repo.git(&[
            "init",
            "--quiet",
            &format!("--initial-branch={default_branch}"),
        ]);
        // A server that offers partial clones, as GitHub and GitLab do: the scans
        // compared with Composer's here read through partial mirrors.
        repo.git(&["config", "uploadpack.allowFilter", "true"]);
        repo
    }

    fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git")
            .args(args)
            .current_dir(&self.dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Author")
            .env("GIT_AUTHOR_EMAIL", "author@example.com")
            .env("GIT_COMMITTER_NAME", "Committer")
            .env("GIT_COMMITTER_EMAIL", "committer@example.com")
            .env("GIT_AUTHOR_DATE", format!("@{} +0000", self.clock))
            .env(
                "GIT_COMMITTER_DATE",
                format!("@{} +0000", self.clock + 86_400 * 30),
            )
            .output()
            .expect("git runs");
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// Commits on the current branch with composer.json set to `composer_json` (removed
    /// when `None`); returns the commit id.
    fn commit(&mut self, composer_json: Option<&str>) -> String {
        self.commit_files(&[("composer.json", composer_json)])
    }

    fn commit_files(&mut self, files: &[(&str, Option<&str>)]) -> String {
        self.clock += 3_600;
        for (path, content) in files {
            let path = self.dir.join(path);
            match content {
                Some(content) => {
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    std::fs::write(&path, content).unwrap();
                }
                None => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        std::fs::write(self.dir.join("CHANGES"), self.clock.to_string()).unwrap();
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "-m", &format!("change {}", self.clock)]);
        self.git(&["rev-parse", "HEAD"])
    }

    fn tag(&self, name: &str, target: &str) {
        self.git(&["tag", name, target]);
    }

    fn annotated_tag(&self, name: &str, target: &str) {
        self.git(&["tag", "-a", "-m", &format!("release {name}"), name, target]);
    }

    fn branch(&self, name: &str, target: &str) {
        self.git(&["branch", name, target]);
    }
}

fn manifest(name: &str, fields: &Value) -> String {
    let mut manifest = json!({"name": name});
    manifest
        .as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    serde_json::to_string_pretty(&manifest).unwrap()
}

/// Tags of every spelling, duplicates, broken and renamed manifests; branches `main`
/// (default, with a branch alias), `2.x`, `1.0`, `feature/x`.
fn odd_tags(dir: &Path) -> Repo {
    const NAME: &str = "acme/lib";
    let mut repo = Repo::init(dir, "main");
    let first = repo.commit(Some(&manifest(NAME, &json!({"require": {"php": ">=8.1"}}))));
    repo.tag("v1.0", &first);
    repo.annotated_tag("1.0.0-rc1", &first);
    repo.tag("1.0.0-beta.2", &first);
    repo.annotated_tag("2.0.0-alpha", &first);
    repo.tag("20240101", &first);
    repo.tag("2024.01.01", &first);
    repo.tag("latest", &first);
    repo.tag("foo", &first);
    repo.branch("1.0", &first);
    let second = repo.commit(Some(&manifest(NAME, &json!({"description": "second"}))));
    repo.tag("1.0.0", &second);
    repo.annotated_tag("release-2.0", &second);
    repo.branch("2.x", &second);
    let third = repo.commit(Some(&manifest(NAME, &json!({"description": "third"}))));
    repo.annotated_tag("v1.0.0", &third);
    repo.branch("feature/x", &third);
    let broken = repo.commit(Some("{\"name\": \"acme/lib\",\n  \"require\": {\n}"));
    repo.tag("3.0.0", &broken);
    let renamed = repo.commit(Some(&manifest("acme/old-name", &json!({}))));
    repo.annotated_tag("0.9.0", &renamed);
    let without = repo.commit(None);
    repo.tag("0.8.0", &without);
    repo.commit(Some(&manifest(
        NAME,
        &json!({"extra": {"branch-alias": {"dev-main": "3.0.x-dev"}}}),
    )));
    repo
}

/// composer.json `version` fields (matching, not matching, dev), files Composer reads
/// as absent, an invalid constraint, `self.version`, a `time`, tags that are equal by
/// `version_compare`; default branch `develop`.
fn declared_versions(dir: &Path) -> Repo {
    const NAME: &str = "acme/versioned";
    let mut repo = Repo::init(dir, "develop");
    let declared = repo.commit(Some(&manifest(NAME, &json!({"version": "1.0.0"}))));
    repo.tag("v1.0.0", &declared);
    repo.tag("1.0.1", &declared);
    repo.branch("master", &declared);
    let dev = repo.commit(Some(&manifest(NAME, &json!({"version": "1.1.0-dev"}))));
    repo.tag("1.1.0", &dev);
    repo.tag("1.2.0-dev", &dev);
    repo.tag("dev-foo", &dev);
    for (tag, content) in [
        ("2.0.0", "{}"),
        ("2.0.1", "0"),
        ("2.0.2", "[]"),
        ("2.0.3", " \n"),
    ] {
        let empty = repo.commit(Some(content));
        repo.tag(tag, &empty);
    }
    let bad_constraint = repo.commit(Some(&manifest(
        NAME,
        &json!({"require": {"x/y": "not a constraint"}}),
    )));
    repo.tag("2.1.0", &bad_constraint);
    repo.branch("broken", &bad_constraint);
    let dated = repo.commit(Some(&manifest(
        NAME,
        &json!({"require": {"acme/other": "self.version"}, "time": "2020-05-01 10:00:00"}),
    )));
    repo.tag("2.2.0", &dated);
    repo.tag("1.0.0-RC1", &dated);
    repo.tag("1.0.0-rc01", &dated);
    repo.tag("2024.01.01", &dated);
    repo.tag("2024.1.1", &dated);
    repo.annotated_tag("v2.3", &dated);
    repo.tag("2.3.0", &dated);
    repo.commit(Some(&manifest(NAME, &json!({"description": "develop"}))));
    repo
}

/// Branch names of every shape, branches without or with broken composer.json, a tag
/// of a tree and a tag of a tag; default branch `2.x`.
fn branch_shapes(dir: &Path) -> Repo {
    const NAME: &str = "acme/branchy";
    let mut repo = Repo::init(dir, "2.x");
    let first = repo.commit(Some(&manifest(
        NAME,
        &json!({"extra": {"branch-alias": {"dev-master": "1.0.x-dev"}}}),
    )));
    for branch in [
        "master",
        "v1.0",
        "feature#1",
        "a,b",
        "Feature/Upper",
        "1.2.x",
        "3",
    ] {
        repo.branch(branch, &first);
    }
    repo.annotated_tag("2.0.0-beta1", &first);
    repo.git(&["tag", "-a", "-m", "nested", "v2.0.0", "2.0.0-beta1"]);
    repo.tag("1.5.0", &format!("{first}^{{tree}}"));
    let without = repo.commit(None);
    repo.branch("no-composer", &without);
    let broken = repo.commit(Some("{\"name\": \"acme/branchy\""));
    repo.branch("broken-json", &broken);
    repo.commit(Some(&manifest(
        NAME,
        &json!({"extra": {"branch-alias": {"2.x-dev": "2.1.x-dev"}}}),
    )));
    repo
}

fn require_composer() {
    let available = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .env("COMPOSER_ALLOW_SUPERUSER", "1")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    assert!(
        available("php") && available("composer"),
        "composer and php are required: run scripts/test"
    );
}

/// Composer's packages for the repository at `repo` (aliases included, flagged), and
/// its very verbose log.
fn composer_scan(repo: &Path, scratch: &Path) -> (Vec<Value>, String) {
    let script = scratch.join("composer-scan.php");
    std::fs::write(&script, COMPOSER_SCAN).unwrap();
    let home = scratch.join("composer-home");
    let output = Command::new("php")
        .arg(&script)
        .arg(repo)
        .env("COMPOSER_HOME", &home)
        .env("COMPOSER_CACHE_DIR", home.join("cache"))
        .env("COMPOSER_NO_INTERACTION", "1")
        .env("COMPOSER_ALLOW_SUPERUSER", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "Composer's scan failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&output.stdout));
    });
    let packages = result["packages"].as_array().unwrap().clone();
    (packages, result["log"].as_str().unwrap().to_owned())
}

fn loaded_from_composer(package: &Value) -> Loaded {
    Loaded {
        version: package["version"].as_str().unwrap().to_owned(),
        version_normalized: package["version_normalized"].as_str().unwrap().to_owned(),
        reference: package["reference"].as_str().unwrap().to_owned(),
        default_branch: package["default_branch"].as_bool().unwrap(),
        time: package["time"].as_i64(),
    }
}

/// A scan of the repository at `url` through its mirror at `mirror`, with the default limits.
async fn scan(
    url: &str,
    mirror: &Path,
    auth: &GitAuth,
    expected_package: Option<&str>,
    previous_fingerprint: Option<&str>,
) -> Result<ScanOutcome, ScanError> {
    let mirror = git::Mirror::new(url, mirror, auth);
    scan::scan(&mirror, expected_package, previous_fingerprint).await
}

async fn packyard_scan(repo: &Path, mirror: &Path) -> (String, Vec<Loaded>, Vec<(String, String)>) {
    let outcome = scan(
        repo.to_str().unwrap(),
        mirror,
        &GitAuth::default(),
        None,
        None,
    )
    .await
    .unwrap();
    let ScanOutcome::Scanned {
        package,
        versions,
        skipped,
        ..
    } = outcome
    else {
        panic!("a first scan reads the refs");
    };
    let loaded = versions
        .iter()
        .map(|v| Loaded {
            version: v.version.clone(),
            version_normalized: v.version_normalized.clone(),
            reference: v.commit.clone(),
            default_branch: v.is_default_branch,
            time: v
                .manifest
                .get("time")
                .and_then(Value::as_str)
                .map(|t| composer::manifest::parse_time(t).expect("a test time parses"))
                .or(v.time),
        })
        .collect();
    let skipped = skipped
        .into_iter()
        .map(|s| (s.ref_name, s.reason))
        .collect();
    (package.into(), loaded, skipped)
}

/// Scans `repo` both ways and requires the same versions, in the same order.
async fn assert_parity(repo: &Repo, expected_package: &str, scratch: &Path) -> Vec<Loaded> {
    let (composer_packages, log) = composer_scan(&repo.dir, scratch);
    let composer: Vec<Loaded> = composer_packages
        .iter()
        .filter(|p| !p["alias"].as_bool().unwrap())
        .map(loaded_from_composer)
        .collect();
    assert!(
        composer_packages
            .iter()
            .all(|p| p["name"] == expected_package)
    );
    let (package, ours, skipped) = packyard_scan(&repo.dir, &scratch.join("mirror")).await;
    assert_eq!(package, expected_package);
    assert_eq!(
        ours, composer,
        "packyard (left) and Composer (right) disagree.\npackyard skipped: {skipped:#?}\nComposer's log:\n{log}"
    );
    // Every skipped ref is one Composer did not load either.
    let loaded_refs: BTreeSet<&str> = ours.iter().map(|l| l.reference.as_str()).collect();
    assert!(!skipped.is_empty() && !loaded_refs.is_empty());
    ours
}

fn versions(loaded: &[Loaded]) -> Vec<&str> {
    loaded.iter().map(|l| l.version.as_str()).collect()
}

#[tokio::test]
async fn odd_tags_match_composer() {
    testkit::needs!(Composer, Php, Git);
    require_composer();
    let scratch = TempDir::new("vcs-parity-odd");
    let repo = odd_tags(&scratch.path().join("repo"));
    let loaded = assert_parity(&repo, "acme/lib", scratch.path()).await;
    assert_eq!(
        versions(&loaded),
        [
            "0.9.0",
            "1.0.0",
            "1.0.0-beta.2",
            "1.0.0-rc1",
            "2.0.0-alpha",
            "2024.01.01",
            "20240101",
            "2.0",
            "dev-main",
            "1.0.x-dev",
            "2.x-dev",
            "dev-feature/x",
        ]
    );

    // What `composer show --all` lists is what the script loads, aliases included, except
    // for all-digit versions: show's `array_reverse()` renumbers those PHP array keys
    // (20240101 is printed as 0).
    let (packages, _) = composer_scan(&repo.dir, scratch.path());
    let numbered = |v: &String| v.bytes().all(|b| b.is_ascii_digit());
    let from_script: BTreeSet<String> = packages
        .iter()
        .map(|p| p["version"].as_str().unwrap().to_owned())
        .filter(|v| !numbered(v))
        .collect();
    let shown = composer_show_versions(&repo.dir, scratch.path());
    assert_eq!(
        shown
            .into_iter()
            .filter(|v| !numbered(v))
            .collect::<BTreeSet<_>>(),
        from_script
    );
}

#[tokio::test]
async fn declared_versions_match_composer() {
    testkit::needs!(Composer, Php, Git);
    require_composer();
    let scratch = TempDir::new("vcs-parity-declared");
    let repo = declared_versions(&scratch.path().join("repo"));
    let loaded = assert_parity(&repo, "acme/versioned", scratch.path()).await;
    assert_eq!(
        versions(&loaded),
        [
            "1.0.0-RC1",
            "1.1.0",
            "2.2.0",
            "2.3.0",
            "2024.01.01",
            // Tag v1.0.0, spelled as its composer.json declares.
            "1.0.0",
            "dev-develop",
            "dev-master",
        ]
    );
}

#[tokio::test]
async fn branch_shapes_match_composer() {
    testkit::needs!(Composer, Php, Git);
    require_composer();
    let scratch = TempDir::new("vcs-parity-branches");
    let repo = branch_shapes(&scratch.path().join("repo"));
    let loaded = assert_parity(&repo, "acme/branchy", scratch.path()).await;
    assert_eq!(
        versions(&loaded),
        [
            "2.0.0-beta1",
            "v2.0.0",
            "2.x-dev",
            "1.2.x-dev",
            "3.x-dev",
            "dev-Feature/Upper",
            "dev-feature#1",
            "dev-master",
            "v1.0.x-dev",
        ]
    );
}

/// The versions `composer show --all` prints for the package in a project whose only
/// repository is `repo`.
fn composer_show_versions(repo: &Path, scratch: &Path) -> BTreeSet<String> {
    let project = scratch.join("project");
    std::fs::create_dir_all(&project).unwrap();
    let config = json!({"repositories": [{"type": "vcs", "url": repo}, {"packagist.org": false}]});
    std::fs::write(project.join("composer.json"), config.to_string()).unwrap();
    let home = scratch.join("show-home");
    let output = Command::new("composer")
        .args(["show", "--all", "acme/lib", "--format=json"])
        .current_dir(&project)
        .env("COMPOSER_HOME", &home)
        .env("COMPOSER_CACHE_DIR", home.join("cache"))
        .env("COMPOSER_NO_INTERACTION", "1")
        .env("COMPOSER_ALLOW_SUPERUSER", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let shown: Value = serde_json::from_slice(&output.stdout).unwrap();
    // PHP array keys: a version like 20240101 comes back as a number.
    shown["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        .collect()
}

#[tokio::test]
async fn an_unchanged_repository_is_not_read_again_and_changes_are_seen() {
    testkit::needs!(Git);
    let scratch = TempDir::new("vcs-rescan");
    let mut repo = Repo::init(&scratch.path().join("repo"), "main");
    let first = repo.commit(Some(&manifest("acme/lib", &json!({}))));
    repo.tag("1.0.0", &first);
    repo.branch("old", &first);
    let url = repo.dir.to_str().unwrap().to_owned();
    let mirror = scratch.path().join("cache/mirror");
    let auth = GitAuth::default();

    let ScanOutcome::Scanned { fingerprint, .. } =
        scan(&url, &mirror, &auth, None, None).await.unwrap()
    else {
        panic!("first scan");
    };
    let again = scan(&url, &mirror, &auth, Some("acme/lib"), Some(&fingerprint))
        .await
        .unwrap();
    assert_eq!(
        again,
        ScanOutcome::Unchanged {
            fingerprint: fingerprint.clone()
        }
    );

    // A moved tag, a deleted branch, a new tag and a new default branch.
    let second = repo.commit(Some(&manifest("acme/lib", &json!({"description": "2"}))));
    repo.git(&["tag", "--force", "1.0.0", &second]);
    repo.git(&["branch", "--delete", "--force", "old"]);
    repo.tag("1.1.0", &second);
    repo.git(&["checkout", "--quiet", "-b", "next"]);
    let ScanOutcome::Scanned {
        fingerprint: changed,
        versions,
        default_branch,
        ..
    } = scan(&url, &mirror, &auth, Some("acme/lib"), Some(&fingerprint))
        .await
        .unwrap()
    else {
        panic!("the refs changed");
    };
    assert_ne!(changed, fingerprint);
    assert_eq!(default_branch, "next");
    let found: Vec<(&str, &str, bool)> = versions
        .iter()
        .map(|v| (v.version.as_str(), v.commit.as_str(), v.is_default_branch))
        .collect();
    assert_eq!(
        found,
        [
            ("1.0.0", second.as_str(), false),
            ("1.1.0", second.as_str(), false),
            ("dev-next", second.as_str(), true),
            ("dev-main", second.as_str(), false),
        ]
    );

    // A lost cache is rebuilt; the refs are the same, so nothing needs deriving.
    std::fs::remove_dir_all(&mirror).unwrap();
    let rebuilt = scan(&url, &mirror, &auth, Some("acme/lib"), Some(&changed))
        .await
        .unwrap();
    assert_eq!(
        rebuilt,
        ScanOutcome::Unchanged {
            fingerprint: changed
        }
    );
}

#[tokio::test]
async fn unusable_repositories_are_reported_clearly() {
    testkit::needs!(Git);
    let scratch = TempDir::new("vcs-errors");
    let auth = GitAuth::default();
    let mirror = |name: &str| scratch.path().join("cache").join(name);

    let missing = scratch.path().join("does-not-exist");
    let error = scan(
        missing.to_str().unwrap(),
        &mirror("missing"),
        &auth,
        None,
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(error, ScanError::Unreachable(_)), "{error:?}");
    // The first scan's clone is what reads it: git's own words for a path that holds
    // no repository.
    assert!(
        error.to_string().contains(&format!(
            "repository '{}' does not exist",
            missing.display()
        )),
        "{error}"
    );
    assert!(!mirror("missing").exists());

    let empty = Repo::init(&scratch.path().join("empty"), "main");
    let error = scan(
        empty.dir.to_str().unwrap(),
        &mirror("empty"),
        &auth,
        None,
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the repository is empty: it has no branches and no tags"
    );

    let mut bare = Repo::init(&scratch.path().join("no-composer"), "main");
    bare.commit_files(&[("README", Some("hello"))]);
    let error = scan(
        bare.dir.to_str().unwrap(),
        &mirror("bare"),
        &auth,
        None,
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the default branch (main) has no composer.json"
    );

    let mut nameless = Repo::init(&scratch.path().join("nameless"), "trunk");
    nameless.commit(Some(r#"{"description": "no name"}"#));
    let error = scan(
        nameless.dir.to_str().unwrap(),
        &mirror("nameless"),
        &auth,
        None,
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the composer.json of the default branch (trunk) is unusable: composer.json has no \"name\""
    );

    let mut renamed = Repo::init(&scratch.path().join("renamed"), "main");
    renamed.commit(Some(&manifest("acme/new-name", &json!({}))));
    let error = scan(
        renamed.dir.to_str().unwrap(),
        &mirror("renamed"),
        &auth,
        Some("acme/lib"),
        None,
    )
    .await
    .unwrap_err();
    assert!(
        error.to_string().starts_with(
            "the repository's default branch now names the package acme/new-name, not acme/lib"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn credentials_never_land_in_the_mirror() {
    testkit::needs!(Git);
    let scratch = TempDir::new("vcs-credentials");
    let mut repo = Repo::init(&scratch.path().join("repo"), "main");
    repo.commit(Some(&manifest("acme/lib", &json!({}))));
    let mirror = scratch.path().join("mirror");
    let auth = GitAuth {
        https_basic: Some(("deploy".into(), "s3cret-token".into())),
        ..GitAuth::default()
    };
    scan(repo.dir.to_str().unwrap(), &mirror, &auth, None, None)
        .await
        .unwrap();
    let config = std::fs::read_to_string(mirror.join("config")).unwrap();
    assert!(
        !config.contains("s3cret") && !config.contains("extraHeader"),
        "{config}"
    );
    // Nor the URL: commands that reach the remote are given it. (The remote itself
    // stays, without one, as the promisor of a partial mirror.)
    assert!(
        !config.contains("url") && !config.contains(repo.dir.to_str().unwrap()),
        "the URL is not stored either: {config}"
    );
}

#[tokio::test]
async fn archives_are_built_from_the_mirror_without_export_ignored_files() {
    testkit::needs!(Git);
    let scratch = TempDir::new("vcs-archive");
    let mut repo = Repo::init(&scratch.path().join("repo"), "main");
    let commit = repo.commit_files(&[
        ("composer.json", Some(&manifest("acme/lib", &json!({})))),
        ("src/Lib.php", Some("<?php\n")),
        ("tests/LibTest.php", Some("<?php\n")),
        (".gitattributes", Some("/tests export-ignore\n")),
    ]);
    let mirror_dir = scratch.path().join("mirror");
    let mirror = git::Mirror::new(repo.dir.to_str().unwrap(), &mirror_dir, &GitAuth::default());
    mirror.update().await.unwrap();
    let output = scratch.path().join("dist.zip");
    mirror.archive(&commit, &output).await.unwrap();
    let archive = zip::ZipArchive::new(std::fs::File::open(&output).unwrap()).unwrap();
    let mut names: Vec<String> = archive
        .file_names()
        .map(|name| name.unwrap().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".gitattributes",
            "CHANGES",
            "composer.json",
            "src/",
            "src/Lib.php"
        ]
    );
    // The same commit gives the same bytes.
    let again = scratch.path().join("again.zip");
    mirror.archive(&commit, &again).await.unwrap();
    assert_eq!(
        std::fs::read(&output).unwrap(),
        std::fs::read(&again).unwrap()
    );

    let error = mirror
        .archive(&"0".repeat(40), &scratch.path().join("none.zip"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains(&"0".repeat(40)), "{error}");
    assert!(!scratch.path().join("none.zip").exists());
}

/// git's output of `args` on the repository at `git_dir`, which must succeed; nothing
/// is fetched.
fn git_in(git_dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_NO_LAZY_FETCH", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The objects of the repository at `git_dir` that it lacks (a partial mirror's
/// promised ones), read without fetching anything.
fn missing_objects(git_dir: &Path) -> BTreeSet<String> {
    git_in(
        git_dir,
        &["rev-list", "--objects", "--all", "--missing=print"],
    )
    .lines()
    .filter_map(|line| line.strip_prefix('?').map(str::to_owned))
    .collect()
}

/// The blob of `path` at `commit` in `repo`.
fn blob_of(repo: &Repo, commit: &str, path: &str) -> String {
    repo.git(&["rev-parse", &format!("{commit}:{path}")])
}

/// A library with a few releases and files besides composer.json, served by a real
/// `git daemon` that offers partial clones or not.
fn served_library(scratch: &Path, partial_clones: bool) -> (Repo, Vec<String>, testkit::Service) {
    let mut repo = Repo::init(&scratch.join("lib"), "main");
    repo.git(&[
        "config",
        "uploadpack.allowFilter",
        &partial_clones.to_string(),
    ]);
    let mut commits = Vec::new();
    for minor in 0..3 {
        let commit = repo.commit_files(&[
            ("composer.json", Some(&manifest("acme/lib", &json!({})))),
            (
                "src/Lib.php",
                Some(&format!("<?php // release 1.{minor}\n")),
            ),
            ("README.md", Some(&format!("# acme/lib 1.{minor}\n"))),
        ]);
        repo.tag(&format!("v1.{minor}.0"), &commit);
        commits.push(commit);
    }
    let daemon = testkit::Service::git_daemon(&repo.dir);
    (repo, commits, daemon)
}

/// The mirror of `daemon`'s repository, allowed to reach it on loopback.
fn daemon_mirror(daemon: &testkit::Service, repo: &Repo, dir: &Path) -> git::Mirror {
    let url = format!(
        "git://127.0.0.1:{}/{}",
        daemon.port,
        repo.dir.file_name().unwrap().to_string_lossy()
    );
    let policy = packyard::outbound::NetworkPolicy::from_env(|name| {
        (name == "PACKYARD_ALLOW_NETWORKS").then(|| "127.0.0.0/8".to_owned())
    })
    .unwrap();
    git::Mirror::new(&url, dir, &GitAuth::default()).with_network_policy(policy)
}

#[tokio::test]
async fn a_first_scan_fetches_only_the_files_it_reads_and_a_dist_the_rest_of_its_commit() {
    testkit::needs!(Git);
    let scratch = TempDir::new("vcs-partial");
    let (repo, commits, mut daemon) = served_library(scratch.path(), true);
    let mirror_dir = scratch.path().join("mirror");
    let mirror = daemon_mirror(&daemon, &repo, &mirror_dir);

    let ScanOutcome::Scanned {
        versions, readme, ..
    } = scan::scan(&mirror, None, None).await.unwrap()
    else {
        panic!("a first scan reads the refs");
    };
    let mut found: Vec<&str> = versions.iter().map(|v| v.version.as_str()).collect();
    found.sort_unstable();
    assert_eq!(found, ["dev-main", "v1.0.0", "v1.1.0", "v1.2.0"]);
    assert_eq!(readme.as_deref(), Some("# acme/lib 1.2\n"));
    // The sources stayed on the server; every composer.json read is here, and the
    // README of the default branch only.
    let missing = missing_objects(&mirror_dir);
    for commit in &commits {
        assert!(
            missing.contains(&blob_of(&repo, commit, "src/Lib.php")),
            "{missing:?}"
        );
        assert!(!missing.contains(&blob_of(&repo, commit, "composer.json")));
    }
    assert!(!missing.contains(&blob_of(&repo, &commits[2], "README.md")));
    assert!(missing.contains(&blob_of(&repo, &commits[0], "README.md")));

    // A dist of the first release fetches that commit's files, in one request, and no
    // other's; once fetched, they are the mirror's own: the server may go.
    let zip = scratch.path().join("dist.zip");
    mirror.archive(&commits[0], &zip).await.unwrap();
    let missing = missing_objects(&mirror_dir);
    assert!(!missing.contains(&blob_of(&repo, &commits[0], "src/Lib.php")));
    assert!(missing.contains(&blob_of(&repo, &commits[1], "src/Lib.php")));
    daemon.kill();
    let again = scratch.path().join("again.zip");
    mirror.archive(&commits[0], &again).await.unwrap();
    assert_eq!(std::fs::read(&zip).unwrap(), std::fs::read(&again).unwrap());
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    let mut source = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("src/Lib.php").unwrap(), &mut source)
        .unwrap();
    assert_eq!(source, "<?php // release 1.0\n");
    // A release whose files were never fetched cannot be built with the server gone,
    // and says so rather than building a partial archive.
    let error = mirror
        .archive(&commits[1], &scratch.path().join("none.zip"))
        .await
        .unwrap_err();
    assert!(matches!(error, git::GitError::Failed { .. }), "{error}");
    assert!(!scratch.path().join("none.zip").exists());
}

#[tokio::test]
async fn a_server_without_partial_clones_gets_a_whole_clone_that_needs_it_no_more() {
    testkit::needs!(Git);
    let scratch = TempDir::new("vcs-whole");
    let (repo, commits, mut daemon) = served_library(scratch.path(), false);
    let mirror_dir = scratch.path().join("mirror");
    let mirror = daemon_mirror(&daemon, &repo, &mirror_dir);

    let ScanOutcome::Scanned { versions, .. } = scan::scan(&mirror, None, None).await.unwrap()
    else {
        panic!("a first scan reads the refs");
    };
    assert_eq!(versions.len(), 4);
    assert_eq!(
        missing_objects(&mirror_dir),
        BTreeSet::new(),
        "a whole clone"
    );
    // Every release builds with the server gone.
    daemon.kill();
    for (n, commit) in commits.iter().enumerate() {
        let zip = scratch.path().join(format!("{n}.zip"));
        mirror.archive(commit, &zip).await.unwrap();
        assert!(zip.metadata().unwrap().len() > 0);
    }
}

#[tokio::test]
async fn a_mirror_an_earlier_version_cloned_whole_is_updated_in_place() {
    testkit::needs!(Git);
    let scratch = TempDir::new("vcs-earlier-mirror");
    let mut repo = Repo::init(&scratch.path().join("repo"), "main");
    let first = repo.commit(Some(&manifest("acme/lib", &json!({}))));
    repo.tag("v1.0.0", &first);
    // What packyard made before mirrors were partial: a whole bare clone whose config
    // then lost its remote.
    let mirror_dir = scratch.path().join("mirror");
    repo.git(&[
        "clone",
        "--quiet",
        "--bare",
        ".",
        mirror_dir.to_str().unwrap(),
    ]);
    git_in(
        &mirror_dir,
        &["config", "--remove-section", "remote.origin"],
    );

    let second = repo.commit(Some(&manifest("acme/lib", &json!({"description": "next"}))));
    repo.tag("v1.1.0", &second);
    let mirror = git::Mirror::new(repo.dir.to_str().unwrap(), &mirror_dir, &GitAuth::default());
    let ScanOutcome::Scanned { versions, .. } = scan::scan(&mirror, None, None).await.unwrap()
    else {
        panic!("the refs changed: a scan");
    };
    let mut found: Vec<&str> = versions.iter().map(|v| v.version.as_str()).collect();
    found.sort_unstable();
    assert_eq!(found, ["dev-main", "v1.0.0", "v1.1.0"]);
    let zip = scratch.path().join("dist.zip");
    mirror.archive(&second, &zip).await.unwrap();
    assert!(zip.metadata().unwrap().len() > 0);
}
