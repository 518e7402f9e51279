//! What a test needs from outside the workspace, and skipping (or failing) when it
//! is missing.

use std::path::{Path, PathBuf};

use crate::ldap::SLAPD;
use crate::sshd::SSHD;

/// A service or tool a test needs that is not part of this workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A PostgreSQL server (`PACKYARD_TEST_POSTGRES`).
    Postgres,
    /// A MariaDB server (`PACKYARD_TEST_MARIADB`, `mysql://root@127.0.0.1:PORT`).
    MariaDb,
    S3sFs,
    Moto,
    Azurite,
    GcsEmulator,
    /// OpenSSH's sshd.
    Sshd,
    /// The `composer` client (with PHP).
    Composer,
    /// PHP with Debian's composer/semver, for differential tests.
    Php,
    Git,
    /// libfaketime's `faketime`.
    Faketime,
    /// Chromium and chromedriver (Debian's chromium and chromium-driver), for
    /// [`browser::Browser`](crate::browser::Browser).
    Chromium,
    /// A Python with Prometheus' own client library, whose text-format parser checks
    /// `/metrics` (`PACKYARD_TEST_PROMETHEUS_PYTHON`; see [`prometheus::parse`](crate::prometheus::parse)).
    PrometheusParser,
    /// nginx (Debian's nginx-light), the load balancer of [`nginx::Nginx`](crate::nginx::Nginx).
    Nginx,
    /// OpenLDAP's slapd and ldap-utils (Debian's slapd and ldap-utils), and openssl,
    /// for [`Slapd`](crate::Slapd).
    Slapd,
    /// Node.js and panva's oidc-provider (`PACKYARD_TEST_OIDC_PROVIDER`, the
    /// node_modules directory holding it), for [`OidcProvider`](crate::OidcProvider).
    OidcProvider,
}

impl Need {
    /// Why it is missing, or `None` when it is here.
    fn missing(self) -> Option<String> {
        let variable = |name: &str| match std::env::var_os(name) {
            Some(path)
                if ["PACKYARD_TEST_POSTGRES", "PACKYARD_TEST_MARIADB"].contains(&name)
                    || Path::new(&path).exists() =>
            {
                None
            }
            Some(path) => Some(format!(
                "{name} names {}, which does not exist",
                Path::new(&path).display()
            )),
            None => Some(format!("{name} is not set")),
        };
        let command = |name: &str| (!on_path(name)).then(|| format!("`{name}` is not on PATH"));
        match self {
            Need::Postgres => variable("PACKYARD_TEST_POSTGRES"),
            Need::MariaDb => variable("PACKYARD_TEST_MARIADB"),
            Need::S3sFs => variable("PACKYARD_TEST_S3S_FS"),
            Need::Moto => variable("PACKYARD_TEST_MOTO"),
            Need::Azurite => variable("PACKYARD_TEST_AZURITE"),
            Need::GcsEmulator => variable("PACKYARD_TEST_GCS_EMULATOR"),
            Need::Sshd => (!Path::new(SSHD).exists()).then(|| format!("{SSHD} does not exist")),
            Need::Composer => command("composer").or_else(|| command("php")),
            Need::Php => command("php"),
            Need::Git => command("git"),
            Need::Faketime => command("faketime"),
            Need::Chromium => command("chromium").or_else(|| command("chromedriver")),
            Need::PrometheusParser => variable("PACKYARD_TEST_PROMETHEUS_PYTHON"),
            Need::Nginx => command("nginx"),
            Need::Slapd => (!Path::new(SLAPD).exists())
                .then(|| format!("{SLAPD} does not exist"))
                .or_else(|| command("ldapmodify"))
                .or_else(|| command("openssl")),
            Need::OidcProvider => {
                variable("PACKYARD_TEST_OIDC_PROVIDER").or_else(|| command("node"))
            }
        }
    }
}

/// Set by scripts/test, which provides every service: a missing one fails the test
/// instead of skipping it.
pub const REQUIRE_SERVICES: &str = "PACKYARD_TEST_REQUIRE_SERVICES";

/// Whether a test must be skipped for want of `needs`. Under scripts/test
/// (`PACKYARD_TEST_REQUIRE_SERVICES=1`) a missing service fails the test; under a plain
/// `cargo test` the test is skipped with a line on stderr naming what is missing.
/// Use [`needs!`](crate::needs!) at the top of a test.
pub fn skip_for_want_of(needs: &[Need]) -> bool {
    use std::io::Write as _;

    let missing: Vec<String> = needs
        .iter()
        .filter_map(|need| need.missing().map(|why| format!("{need:?} ({why})")))
        .collect();
    if missing.is_empty() {
        return false;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_owned();
    assert!(
        std::env::var(REQUIRE_SERVICES).as_deref() != Ok("1"),
        "{test} needs {}: scripts/test installs and starts every service",
        missing.join(", ")
    );
    // Straight to stderr: the test harness captures `eprintln!` of passing tests.
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIPPED {test}: needs {} (scripts/test provides it)",
        missing.join(", ")
    );
    true
}

/// Returns from the test (skipping it) when a service it needs is missing; see
/// [`skip_for_want_of`]. `testkit::needs!(Composer, S3sFs);`
#[macro_export]
macro_rules! needs {
    ($($need:ident),+ $(,)?) => {
        if $crate::skip_for_want_of(&[$($crate::Need::$need),+]) {
            return;
        }
    };
}

fn on_path(command: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(command).is_file()))
}

/// The path a `PACKYARD_TEST_*` variable names, or a failure saying how to get it.
pub fn required_tool(variable: &str, what: &str) -> PathBuf {
    let path = std::env::var_os(variable).map_or_else(
        || panic!("{variable} is not set: run scripts/test, which installs {what} and sets it"),
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "{variable} names {}, which does not exist: run scripts/test, which installs {what}",
        path.display()
    );
    path
}
