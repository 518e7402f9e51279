//! packyard's integration tests, in one binary: each file of this folder is a module
//! (`cargo test -p packyard --test integration mirror::` runs one of them), so the crate
//! is linked once for all of them rather than once per file. A new file becomes a
//! module here; `common` is the harness they share.
//!
//! Most are end to end (the real `packyard` binary, `composer`, git, sshd, PostgreSQL
//! and storage servers); `http_routes` and `access_matrix` drive the router in process
//! (`common::in_process`). `tests/scale_out.rs` is a binary of its own, which says why.

mod common;

mod access;
mod access_matrix;
mod advisories;
mod audit;
mod audit_routes;
mod bad_input;
mod clock_skew;
mod composer_install;
mod deploy;
mod git_bad_input;
mod git_https;
mod git_packages;
mod git_ssh;
mod hostile_clients;
mod http_routes;
mod irsa;
mod listing;
mod mirror;
mod observability;
mod packeton_import;
mod packeton_routes;
mod s3_storage;
mod sso_github;
mod sso_ldap;
mod sso_oidc;
mod sub_repositories;
mod supply_chain;
mod two_replicas;
mod vcs_parity;
mod web;
mod web_walkthrough;
mod webhooks;
