//! packyard's server, command line and sources, as a library so that tests can drive
//! the pieces directly; `main.rs` is only the entry point.

pub mod access;
pub mod advisories;
pub mod app;
pub mod auth;
pub mod catalogue;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod freshness;
pub mod git_packages;
pub mod health;
pub mod http;
pub mod import;
pub mod jobs;
pub mod logging;
pub mod metadata;
pub mod metrics;
pub mod mirror;
pub mod outbound;
pub mod percent;
pub mod readme;
pub mod redact;
pub mod repository_url;
pub mod routes;
pub mod secrets;
pub mod server;
pub mod single_flight;
pub mod stats;
pub mod storage_ops;
pub mod time;
pub mod tokens;
pub mod uploads;
pub mod web;
pub mod webhooks;
