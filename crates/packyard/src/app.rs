//! The services one packyard process runs with, shared by the HTTP layer and the CLI.

use std::sync::Arc;

use anyhow::Context;
use storage::Storage;

use crate::auth::Authenticator;
use crate::config::Settings;
use crate::db::Db;
use crate::metadata::Metadata;

pub struct App {
    pub settings: Settings,
    pub db: Db,
    pub storage: Storage,
    pub auth: Authenticator,
    pub metadata: Arc<Metadata>,
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
                .context("loading package list")?,
        );
        Ok(Arc::new(App {
            auth: Authenticator::new(db.clone()),
            settings,
            db,
            storage,
            metadata,
        }))
    }

    /// Scratch space for uploads being received; on the data dir's filesystem so a
    /// finished upload is never copied across devices.
    pub fn upload_dir(&self) -> std::path::PathBuf {
        self.settings.data_dir.join("tmp")
    }
}
