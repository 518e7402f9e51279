//! Git repositories built by the tests themselves, with fixed identities and dates so
//! commits are reproducible.

use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::TempDir;

pub struct GitRepo {
    pub dir: TempDir,
}

impl GitRepo {
    /// An empty repository whose default branch is `main`.
    pub fn new() -> GitRepo {
        let repo = GitRepo {
            dir: TempDir::new("git-repo"),
        };
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self) -> String {
        self.path().display().to_string()
    }

    pub fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
            .output()
            .expect("running git");
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    pub fn write(&self, relative: &str, content: &str) {
        let path: PathBuf = self.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// Commits everything and returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    pub fn tag(&self, name: &str) {
        self.git(&["tag", name]);
    }

    /// A library whose class carries `marker`, so an install shows which commit it got.
    pub fn write_library(&self, name: &str, marker: &str, extra: serde_json::Value) {
        let mut manifest = serde_json::json!({
            "name": name,
            "description": "A git test package",
            "type": "library",
            "license": "MIT",
            "autoload": {"psr-4": {"Acme\\\\Lib\\\\": "src/"}},
        });
        if !extra.is_null() {
            manifest["extra"] = extra;
        }
        self.write(
            "composer.json",
            &serde_json::to_string_pretty(&manifest).unwrap(),
        );
        self.write(
            "src/Lib.php",
            &format!("<?php\nnamespace Acme\\Lib;\n\nfinal class Lib\n{{\n    public const MARKER = '{marker}';\n}}\n"),
        );
        self.write(".gitattributes", "tests/ export-ignore\n");
        self.write("tests/LibTest.php", "<?php // excluded from dists\n");
    }
}

/// A repository of `name` with one commit of the library (marker `1.0.0`), tagged `tag`;
/// returns it and the tagged commit.
pub fn library(name: &str, tag: &str) -> (GitRepo, String) {
    let repo = GitRepo::new();
    repo.write_library(name, "1.0.0", serde_json::Value::Null);
    let commit = repo.commit("1.0.0");
    repo.tag(tag);
    (repo, commit)
}
