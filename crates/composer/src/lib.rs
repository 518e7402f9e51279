//! The Composer repository protocol as pure functions: no I/O, no async.
//!
//! Every rule here is copied from the real sources of truth (composer/semver,
//! composer/composer, composer/metadata-minifier) and tested against their tables.

pub mod constraint;
pub mod manifest;
pub mod minify;
pub mod p2;
pub mod package_name;
pub mod vcs;
pub mod version;
