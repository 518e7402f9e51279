//! The composer crate's integration tests, in one binary: each file of this folder is a
//! module (`cargo test -p composer --test integration version_table::` runs one of
//! them). A new file becomes a module here.

mod semver_differential;
mod version_table;
