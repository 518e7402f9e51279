//! Test support shared by the workspace's test suites: temporary directories, free
//! ports, and the real servers the tests talk to (s3s-fs, moto, Azurite,
//! fake-gcs-server, OpenSSH's sshd, nginx, OpenLDAP's slapd, panva's oidc-provider),
//! each started on 127.0.0.1 with a free port and killed by its own PID when dropped.
//!
//! scripts/test installs the servers and names them in `PACKYARD_TEST_*` variables
//! (sshd: Debian's openssh-server, at `/usr/sbin/sshd`); a test that needs one fails
//! with a message naming the script when it is missing.
//!
//! One module per service (`s3s_fs`, `moto`, `azurite`, `gcs_emulator`, `sshd`, `ldap`,
//! `oidc_provider`, and `nginx`, `browser` for Chromium), besides `service` (a child
//! process on a free port), `needs` (skipping or failing for want of a service) and
//! `temp_dir`. What tests use is re-exported here, so `testkit::S3sFs` and
//! `testkit::needs!` name it whatever module it lives in.

pub mod browser;
pub mod hook_receiver;
pub mod nginx;
pub mod prometheus;
pub mod throttle;
pub mod upstream;

mod azurite;
mod gcs_emulator;
mod http;
mod ldap;
mod moto;
mod needs;
mod oidc_provider;
mod s3s_fs;
mod service;
mod sshd;
mod temp_dir;

pub use azurite::{AZURITE_ACCOUNT, AZURITE_KEY, Azurite};
pub use gcs_emulator::GcsEmulator;
pub use http::request;
pub use ldap::{SLAPD, Slapd};
pub use moto::{Moto, recorded_header};
pub use needs::{Need, REQUIRE_SERVICES, required_tool, skip_for_want_of};
pub use oidc_provider::{NotSignedIn, OidcOptions, OidcProvider, OidcUser};
pub use s3s_fs::{S3_ACCESS_KEY, S3_SECRET_KEY, S3sFs};
pub use service::{Service, free_port};
pub use sshd::{SSHD, SshServer, generate_ssh_key};
pub use temp_dir::{TempDir, unique_name};
