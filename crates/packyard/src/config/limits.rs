//! What a client, a repository and a scan may cost: the limits operators set with
//! `PACKYARD_CLIENT_TIMEOUT`, `PACKYARD_MAX_CONNECTIONS`, `PACKYARD_MAX_REPO_SIZE` and
//! `PACKYARD_SCAN_TIMEOUT`. They live with the settings; `http::client_limits` and
//! `git_packages` enforce them.

use std::time::Duration;

/// Default of `PACKYARD_CLIENT_TIMEOUT`.
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

/// Default of `PACKYARD_MAX_CONNECTIONS`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// Default of `PACKYARD_MAX_REPO_SIZE`: 1 GiB.
pub const DEFAULT_MAX_REPO_SIZE: u64 = 1024 * 1024 * 1024;

/// The limits every connection is served under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientLimits {
    /// `PACKYARD_CLIENT_TIMEOUT`: how long a client may take to send a request header,
    /// to deliver each part of a body, and to take its answer (see `http::client_limits`).
    pub timeout: Duration,
    /// `PACKYARD_MAX_CONNECTIONS`: connections open at once, over all serving threads;
    /// beyond it, new ones wait in the listen backlog until one closes.
    pub max_connections: usize,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            timeout: DEFAULT_CLIENT_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// What one repository may cost: `PACKYARD_MAX_REPO_SIZE` and `PACKYARD_SCAN_TIMEOUT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GitLimits {
    /// The most its mirror may hold on disk.
    pub max_repo_size: u64,
    /// The longest a scan (listing, fetching, reading) may take.
    pub scan_timeout: Duration,
}

impl GitLimits {
    pub const DEFAULT_SCAN_TIMEOUT: Duration = Duration::from_secs(600);
}

impl Default for GitLimits {
    fn default() -> Self {
        GitLimits {
            max_repo_size: DEFAULT_MAX_REPO_SIZE,
            scan_timeout: Self::DEFAULT_SCAN_TIMEOUT,
        }
    }
}
