//! Handlers of Composer's endpoints and the JSON API: they parse, call a service,
//! and render; rules live in the services.

pub mod admin;
pub mod advisories;
pub mod api;
pub mod audit;
pub mod blocks;
pub mod composer;
pub mod hooks;
pub mod listing;
pub mod mirror;
pub mod probes;
pub mod webhooks;
