//! The services one packyard process runs with, shared by the HTTP layer, the job
//! runner and the CLI. `App` owns and wires them: each service is built from the
//! parts it uses (never from `App`), and handlers take the ones they need as
//! sub-states (`State<GitPackages>`, ...; see the `FromRef` impls below).

use std::sync::Arc;

use anyhow::Context;
use storage::Storage;

use crate::access::Access;
use crate::advisories::Advisories;
use crate::auth::Authenticator;
use crate::config::Settings;
use crate::db::Db;
use crate::git_packages::{GitOptions, GitPackages};
use crate::jobs::JobQueue;
use crate::metadata::Metadata;
use crate::mirror::Mirrors;
use crate::secrets::{SecretBox, SecretError, Secrets};
use crate::stats::Stats;
use crate::uploads::Uploads;
use crate::webhooks::Webhooks;

pub struct App {
    pub settings: Settings,
    pub db: Db,
    pub storage: Storage,
    pub auth: Authenticator,
    /// Who may see what.
    pub access: Access,
    pub metadata: Arc<Metadata>,
    pub jobs: Arc<JobQueue>,
    pub mirrors: Mirrors,
    pub git_packages: GitPackages,
    pub uploads: Uploads,
    pub advisories: Advisories,
    pub blocks: crate::block_lists::Blocks,
    pub stats: Stats,
    /// Outgoing webhooks.
    pub webhooks: Webhooks,
    /// Sign-in through identity providers.
    pub sso: crate::sso::Sso,
    /// What the web UI lists and searches.
    pub catalogue: crate::catalogue::Catalogues,
    /// The audit log, read and checked.
    pub audit: crate::audit::AuditLog,
    secrets: Secrets,
}

impl App {
    pub async fn open(settings: Settings) -> anyhow::Result<Arc<App>> {
        std::fs::create_dir_all(&settings.data_dir).with_context(|| {
            format!(
                "PACKYARD_DATA_DIR: cannot create {}",
                settings.data_dir.display()
            )
        })?;
        let db = Db::open(&settings.database_url).await?;
        let storage = Storage::open(&settings.storage).context("opening storage")?;
        let metadata = Arc::new(
            Metadata::load(db.clone())
                .await
                .context("loading package list")?
                .with_supply_chain(settings.supply_chain),
        );
        let access = Access::load(db.clone())
            .await
            .context("loading access rules")?;
        let secrets = Secrets::new(settings.secret.as_deref());
        if let Ok(secrets) = secrets.get() {
            bind_earlier_values(&db, secrets).await?;
        }
        let jobs =
            Arc::new(JobQueue::new(db.clone()).with_retry_backoff(settings.job_retry_backoff));
        let webhooks = Webhooks::new(
            db.clone(),
            secrets.clone(),
            jobs.clone(),
            settings.network_policy.clone(),
            settings.public_url.as_deref(),
        );
        Ok(Arc::new(App {
            auth: Authenticator::new(db.clone()),
            access,
            git_packages: GitPackages::new(
                db.clone(),
                storage.clone(),
                metadata.clone(),
                secrets.clone(),
                jobs.clone(),
                webhooks.clone(),
                GitOptions::of(&settings),
            ),
            uploads: Uploads::new(
                db.clone(),
                storage.clone(),
                metadata.clone(),
                webhooks.clone(),
                settings.supply_chain.immutable_versions,
            ),
            advisories: Advisories::new(db.clone(), metadata.clone(), webhooks.clone()),
            blocks: crate::block_lists::Blocks::new(db.clone(), metadata.clone()),
            stats: Stats::new(db.clone(), metadata.clone()),
            sso: crate::sso::Sso::new(db.clone(), settings.login.clone(), &settings.network_policy),
            jobs,
            webhooks: webhooks.clone(),
            audit: crate::audit::AuditLog::new(
                db.clone(),
                secrets.clone(),
                settings.audit_retention,
            ),
            secrets,
            catalogue: crate::catalogue::Catalogues::default(),
            mirrors: Mirrors::new(
                settings.mirrors.clone(),
                &storage,
                db.clone(),
                metadata.clone(),
                settings.network_policy.clone(),
                webhooks.clone(),
                settings.supply_chain,
            ),
            settings,
            db,
            storage,
            metadata,
        }))
    }

    /// Before telling a caller that something does not exist, by a view of the rules
    /// of stamp `seen`: catches up with rules another replica changed; whether they
    /// differ, so that the caller's view is taken again (package changes are caught up
    /// by `Metadata`).
    pub async fn catch_up_access(&self, seen: i64) -> Result<bool, sqlx::Error> {
        if !self.access.moved_from(seen).await? {
            return Ok(false);
        }
        self.apply_access_changes().await?;
        Ok(true)
    }

    /// Re-reads the access rules when they changed (forgetting verified credentials
    /// first): what the refresher does every 2 s, and what a change made through this
    /// process does at once, so that its effect shows on the next request here.
    pub async fn apply_access_changes(&self) -> Result<bool, sqlx::Error> {
        self.access.refresh(|| self.auth.forget_all()).await
    }

    /// The one place users, groups, grants and tokens are changed (see `access::admin`).
    pub fn access_admin(&self) -> crate::access::AccessAdmin<'_> {
        let mirrors = self.mirrors.aliases().map(String::as_str);
        crate::access::AccessAdmin::new(
            &self.db,
            &self.access,
            &self.auth,
            mirrors,
            self.settings.public_url.as_deref().and_then(url_host),
        )
    }

    /// Scratch space for uploads being received and dists being built
    /// (`PACKYARD_TMP_DIR`); by default on the data dir's filesystem, so a finished
    /// upload is never copied across devices to a local store.
    pub fn upload_dir(&self) -> &std::path::Path {
        &self.settings.tmp_dir
    }

    /// The box that seals stored credentials; an error when `PACKYARD_SECRET` is unset.
    pub fn secrets(&self) -> Result<&SecretBox, SecretError> {
        self.secrets.get()
    }
}

/// Handlers take a service as `State<Service>` instead of the whole `App`.
macro_rules! sub_states {
    ($($service:ty => $field:ident),* $(,)?) => {$(
        impl axum::extract::FromRef<Arc<App>> for $service {
            fn from_ref(app: &Arc<App>) -> Self {
                app.$field.clone()
            }
        }
    )*};
}

sub_states! {
    GitPackages => git_packages,
    Uploads => uploads,
    Advisories => advisories,
    crate::block_lists::Blocks => blocks,
    crate::audit::AuditLog => audit,
    Stats => stats,
    Webhooks => webhooks,
    Db => db,
}

/// Values earlier versions sealed unbound are bound to their rows once, by the first
/// process of this version to open the database (see `secrets::bind_earlier_values`).
async fn bind_earlier_values(db: &Db, secrets: &SecretBox) -> anyhow::Result<()> {
    let Some(binding) = crate::secrets::bind_earlier_values(db, secrets)
        .await
        .context("binding stored secrets to their rows")?
    else {
        return Ok(());
    };
    if binding.bound > 0 {
        tracing::info!(bound = binding.bound, "stored secrets bound to their rows");
    }
    for place in &binding.unreadable {
        tracing::warn!(
            %place,
            "a stored secret does not open with PACKYARD_SECRET and stays unusable until \
             `packyard secrets rotate --old OLD_SECRET` reseals it"
        );
    }
    Ok(())
}

/// The host name of `url` (`PACKYARD_PUBLIC_URL`), lowercase, without its port.
fn url_host(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    parsed.host_str().map(str::to_ascii_lowercase)
}
