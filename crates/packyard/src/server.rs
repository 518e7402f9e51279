//! `packyard serve`: check the stores, bind, serve until SIGINT or SIGTERM, then shut
//! down gracefully: stop accepting, hand running jobs back to the queue, let requests
//! in flight finish within `PACKYARD_SHUTDOWN_GRACE`, write what is noted in memory.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;

use std::sync::Arc;

use crate::app::App;
use crate::config::Settings;
use crate::db::Db;
use crate::db::audit::AuditActor;
use crate::git_packages::job::ScanJob;
use crate::http::HttpListeners;
use crate::jobs::{Handlers, Runner, spawn_periodic};
use crate::webhooks::DeliverWebhook;

/// How often this replica looks for package changes made by others: one row read when
/// nothing changed, the changed packages when something did (`Metadata::refresh`).
const REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// How long start-up waits for stores that answer too slowly (busy, not broken).
const STARTUP_STORAGE_PATIENCE: Duration = Duration::from_secs(30);
/// How long, once requests have drained, handing jobs back and the last database
/// writes may take before the process exits anyway.
pub const LAST_WRITES_LIMIT: Duration = Duration::from_secs(10);
/// How long the runtime waits at exit for work still running (a request cut at the end
/// of the shutdown grace, a blocking read) before it exits without it.
pub const RUNTIME_EXIT_LIMIT: Duration = Duration::from_secs(1);
/// The longest a process can take to exit after SIGTERM beyond
/// `PACKYARD_SHUTDOWN_GRACE`: a supervisor's kill timeout must allow for it.
pub const EXIT_AFTER_GRACE: Duration = LAST_WRITES_LIMIT.saturating_add(RUNTIME_EXIT_LIMIT);
/// Jobs one process runs at once: scans are mostly waiting on git and the network.
const JOB_CONCURRENCY: usize = 4;

pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listen = settings.listen;
    let client_limits = settings.client_limits;
    let grace = settings.shutdown_grace;
    check_writable_dirs(&settings)?;
    if let Some(everything) = settings.trusted_proxies.iter().find(|n| n.is_everything()) {
        tracing::warn!(
            network = %everything,
            "PACKYARD_TRUSTED_PROXIES trusts every address: any client can choose the address \
             its failed logins are counted under; list only the networks the proxies run in"
        );
    }
    let app = App::open(settings).await?;
    crate::db::audit::set_replica(app.jobs.worker_id());
    AuditActor::system("start-up")
        .scope(record_mirror_configuration(&app))
        .await;
    crate::storage_ops::check_patiently(&app.storage, STARTUP_STORAGE_PATIENCE).await?;
    app.metadata.spawn_refresher(REFRESH_INTERVAL);
    spawn_access_refresher(&app);
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let listeners = HttpListeners::bind(listen, threads)
        .with_context(|| format!("PACKYARD_LISTEN: cannot listen on {listen}"))?;
    if let Some(metrics_listen) = app.settings.metrics_listen {
        serve_metrics(&app, metrics_listen).await?;
    }
    let address = listeners.local_addr();
    tracing::info!(%address, threads, "packyard listening");
    // On stdout as well, so scripts that start us on port 0 learn the port.
    println!("packyard listening on http://{address}");
    // What to register at each OpenID Connect provider, in the log: stdout carries the
    // listening line only, since whoever started us may stop reading it after that.
    let base = app
        .settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{address}"));
    for provider in &app.settings.login.providers {
        if !matches!(provider.kind, crate::sso::config::ProviderKind::Ldap(_)) {
            let redirect = crate::sso::Sso::redirect_url(&base, &provider.alias);
            tracing::info!(provider = %provider.alias, %redirect, "sign-in through an identity provider: register this redirect URL there");
        }
    }
    std::io::stdout().flush()?;
    // Only once the port is ours: jobs claimed by a process that then fails to listen
    // would wait out their leases.
    let runner = start_background_work(&app);
    let (jobs_handed_back, handing_back) = tokio::sync::oneshot::channel();
    let stopping = async move {
        shutdown_signal().await;
        // A second signal means now: an operator who does not want to wait.
        tokio::spawn(async {
            shutdown_signal().await;
            tracing::warn!("second signal: exiting without waiting");
            std::process::exit(1);
        });
        // Jobs go back to the queue while connections drain: another replica takes
        // them now rather than when their lease would have run out.
        tokio::spawn(async move {
            runner.shutdown().await;
            let _ = jobs_handed_back.send(());
        });
    };
    let served = listeners
        .serve(
            crate::routes::router(app.clone()),
            client_limits,
            stopping,
            grace,
        )
        .await
        .context("serving HTTP");
    let last_writes = async {
        let _ = handing_back.await;
        // Token uses are noted in memory and written every few seconds: the last ones,
        // through connections of this runtime's own. Some of the main pool's were made
        // on the serving threads, whose runtimes have stopped and no longer drive them.
        let result = match Db::connect(&app.settings.database_url).await {
            Ok(db) => {
                let written = app.auth.flush_uses_to(&db).await;
                if let Err(error) = app.audit.flush_downloads_to(&db).await {
                    tracing::warn!(%error, "recording download counts failed");
                }
                db.close().await;
                written
            }
            Err(error) => {
                tracing::warn!(%error, "connecting for the last writes failed; using the pool");
                if let Err(error) = app.audit.flush_downloads().await {
                    tracing::warn!(%error, "recording download counts failed");
                }
                app.auth.flush_uses().await
            }
        };
        if let Err(error) = result {
            tracing::warn!(%error, "recording token uses failed");
        }
    };
    // A database that stopped answering must not hold the exit up: leases run out.
    if tokio::time::timeout(LAST_WRITES_LIMIT, last_writes)
        .await
        .is_err()
    {
        tracing::warn!(
            "handing jobs back and recording token uses took over 10 s; exiting without them"
        );
    }
    tracing::info!("stopped");
    served
}

/// `PACKYARD_METRICS_LISTEN`: `/metrics` and the probes on an address of their own, on
/// the main runtime (a scrape every few seconds needs no thread of its own). It stops
/// with the process.
async fn serve_metrics(app: &Arc<App>, address: std::net::SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("PACKYARD_METRICS_LISTEN: cannot listen on {address}"))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "metrics listening");
    let router = crate::routes::metrics_router(app.clone());
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "the metrics listener failed");
        }
    });
    Ok(())
}

/// The directories this process writes to must be writable before it serves: with a
/// read-only data dir, a clear start-up error beats a first upload or scan failing.
fn check_writable_dirs(settings: &Settings) -> anyhow::Result<()> {
    let dirs = [
        ("PACKYARD_TMP_DIR", &settings.tmp_dir),
        ("PACKYARD_VCS_CACHE_DIR", &settings.vcs_cache_dir),
    ];
    for (variable, dir) in dirs {
        // Random, not the pid: replicas in containers share pids and may share a volume.
        let probe = dir.join(format!(
            ".packyard-write-check-{}",
            crate::auth::generate_token()
        ));
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&probe, b""))
            .and_then(|()| std::fs::remove_file(&probe))
            .with_context(|| {
                format!(
                    "{variable}: {} is not writable (with a read-only data dir, point {variable} at a writable directory such as /tmp/packyard)",
                    dir.display()
                )
            })?;
    }
    Ok(())
}

/// Jobs run in this process; with PostgreSQL every replica takes its share. Re-scans
/// are queued on a schedule as well as by webhooks.
fn start_background_work(app: &Arc<App>) -> Runner {
    let handlers = Handlers::default()
        .register::<ScanJob>(app.git_packages.clone())
        .register::<DeliverWebhook>(app.webhooks.clone());
    let runner = app.jobs.clone().spawn_runner(handlers, JOB_CONCURRENCY);
    // Webhook deliveries are kept for a week; any replica may prune them.
    let pruning = app.clone();
    spawn_periodic(Duration::from_secs(3600), move || {
        let app = pruning.clone();
        async move {
            let before = crate::db::now_millis() - crate::webhooks::RETENTION.as_millis() as i64;
            match app.db.prune_deliveries(before).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "pruned old webhook deliveries"),
                Err(error) => tracing::warn!(%error, "pruning webhook deliveries failed"),
            }
        }
    });
    // Audit entries past their retention go; any replica may prune (one at a time: the
    // chain's head is locked while it does).
    if let Some(retention) = app.settings.audit_retention {
        let audit = app.audit.clone();
        spawn_periodic(Duration::from_secs(3600), move || {
            let audit = audit.clone();
            AuditActor::system("retention").scope(async move {
                if let Err(error) = audit.prune(retention).await {
                    tracing::warn!(%error, "pruning the audit log failed");
                }
            })
        });
    }
    // Directories are asked whether their users are still there; any replica may ask
    // (each identity is asked once per re-check interval, whoever asks).
    if let Some(shortest) = app.sso.recheck_every() {
        let sso = app.sso.clone();
        let access = app.clone();
        spawn_periodic(shortest, move || {
            let sso = sso.clone();
            let access = access.clone();
            AuditActor::system("directory re-check").scope(async move {
                match sso.recheck().await {
                    Ok(0) => {}
                    Ok(changed) => {
                        tracing::info!(changed, "directory re-check changed users");
                        if let Err(error) = access.apply_access_changes().await {
                            tracing::warn!(%error, "applying access changes failed");
                        }
                    }
                    Err(error) => tracing::warn!(%error, "re-checking directory users failed"),
                }
            })
        });
    }
    if let Some(interval) = app.settings.update_interval {
        let packages = app.git_packages.clone();
        // Check often enough that a package is never much later than its interval.
        let check_every = interval.min(Duration::from_secs(60));
        spawn_periodic(check_every, move || {
            let packages = packages.clone();
            async move {
                match packages.enqueue_due_scans(interval).await {
                    Ok(0) => {}
                    Ok(queued) => tracing::info!(queued, "queued scheduled re-scans"),
                    Err(error) => tracing::warn!(%error, "queueing scheduled re-scans failed"),
                }
            }
        });
    }
    runner
}

/// Records each mirror's configuration when it differs from the one recorded last: the
/// config file is not changed through packyard, so a start is where a change shows.
/// Credentials are recorded as present or not, never their values.
async fn record_mirror_configuration(app: &App) {
    for alias in app.mirrors.aliases() {
        let Some(mirror) = app.mirrors.get(alias) else {
            continue;
        };
        let change = crate::db::audit::Change::new("mirror.configured", alias)
            .detail("url", crate::redact::for_record(&mirror.url, true))
            .detail("http_basic", mirror.http_basic.is_some())
            .detail("strict", mirror.strict)
            .detail("public_access", mirror.public_access)
            .detail("dist_mirror", mirror.enable_dist_mirror)
            .detail("include_in_root", mirror.include_in_root)
            .detail("available_packages", &mirror.available_packages)
            .detail(
                "available_package_patterns",
                &mirror.available_package_patterns,
            )
            .detail("min_release_age", mirror.min_release_age)
            .detail("plugins", format!("{:?}", mirror.plugins));
        if let Err(error) = app.db.record_audit_unless_repeated(&change).await {
            tracing::warn!(%error, mirror = %alias, "the mirror's configuration could not be recorded in the audit log");
        }
    }
}

/// Keeps access rules and verified credentials in step with changes made anywhere:
/// a revoked token or a changed grant counts on every replica within seconds.
fn spawn_access_refresher(app: &Arc<App>) {
    let app = Arc::downgrade(app);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(crate::access::REFRESH_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(app) = app.upgrade() else {
                return;
            };
            if let Err(error) = app.apply_access_changes().await {
                tracing::warn!(%error, "refreshing access rules failed");
            }
            // Token uses and download counts are written in batches, not on every
            // request.
            if let Err(error) = app.auth.flush_uses().await {
                tracing::warn!(%error, "recording token uses failed");
            }
            if let Err(error) = app.audit.flush_downloads().await {
                tracing::warn!(%error, "recording download counts failed");
            }
            let expired = app.db.record_expired_tokens(crate::db::now_millis());
            if let Err(error) = AuditActor::system("token expiry").scope(expired).await {
                tracing::warn!(%error, "recording expired tokens failed");
            }
        }
    });
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
}
