//! Health: whether this process can serve. `/healthz` says only that it is alive (no
//! dependency is asked, so a slow database never gets a replica restarted);
//! `/readyz` and Packeton's `/api/healthz` ask the database and every store, each
//! within [`CHECK_TIMEOUT`], so a replica that cannot reach them leaves the load
//! balancer's rotation.

use std::time::{Duration, Instant};

use serde::Serialize;
use storage::StoreName;

use storage::Storage;

use crate::db::Db;

/// How long one dependency may take to answer before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// A key no store holds: asking for its size is a read that every backend answers
/// quickly (with "not found") when it is reachable and the credentials are good.
const PROBE_KEY: &str = ".packyard-probe/readiness";

/// Why a dependency failed its check.
#[derive(Debug, thiserror::Error)]
enum Unhealthy {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    #[error("no answer within {} ms", CHECK_TIMEOUT.as_millis())]
    Timeout,
}

/// One dependency's answer, in Packeton's shape.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub status: &'static str,
    /// When it was asked, `2026-12-01T12:00:00Z`.
    pub time: String,
    pub observed_value: f64,
    pub observed_unit: &'static str,
    /// Why it failed; shown to maintainers and admins only, logged always.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

impl Check {
    pub fn passed(&self) -> bool {
        self.status == "pass"
    }
}

/// The database (`database:ping`) and each store (`storage:dist`, ...), asked at once.
pub async fn checks(db: &Db, storage: &Storage) -> Vec<(String, Check)> {
    let database = run("database:ping".to_owned(), async {
        db.ping().await.map_err(Unhealthy::from)
    });
    let stores = StoreName::ALL.map(|name| {
        let store = storage.store(name).without_cache();
        run(format!("storage:{}", name.as_str()), async move {
            store
                .size(PROBE_KEY)
                .await
                .map(drop)
                .map_err(Unhealthy::from)
        })
    });
    let (database, stores) = tokio::join!(database, futures_util::future::join_all(stores));
    std::iter::once(database).chain(stores).collect()
}

async fn run(name: String, check: impl Future<Output = Result<(), Unhealthy>>) -> (String, Check) {
    let time = crate::time::rfc3339(crate::db::now_millis() / 1000).replace("+00:00", "Z");
    let started = Instant::now();
    let outcome = match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(outcome) => outcome,
        Err(_) => Err(Unhealthy::Timeout),
    };
    let observed = (started.elapsed().as_secs_f64() * 100_000.0).round() / 100.0;
    if let Err(reason) = &outcome {
        tracing::warn!(check = %name, %reason, "health check failed");
    }
    let check = Check {
        status: if outcome.is_ok() { "pass" } else { "fail" },
        time,
        observed_value: observed,
        observed_unit: "ms",
        output: outcome.err().map(|reason| reason.to_string()),
    };
    (name, check)
}
