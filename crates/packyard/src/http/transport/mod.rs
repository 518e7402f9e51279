//! Transport: connections and what a client may cost, the request log and metrics
//! around every route, and the cross-site check. Knows no handler.

pub mod client_limits;
pub mod connections;
pub mod observe;
pub mod origin;
