//! packyard's server, command line and sources, as a library so that tests can drive
//! the pieces directly; `main.rs` is only the entry point.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod http;
pub mod metadata;
pub mod server;
pub mod sources;
pub mod storage_ops;
pub mod time;
