//! Extractors: who is calling (credentials, roles, what they may see), JSON bodies
//! and package paths, checked before a handler runs.

pub mod access;
pub mod json_body;
pub mod paths;
