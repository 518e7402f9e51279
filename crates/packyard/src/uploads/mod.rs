//! Uploaded archives: receiving a zip (`archive_file`) and publishing it as a version
//! (`artifact`). [`Uploads::upload`] is what the HTTP API, the web UI and the CLI call.

pub mod archive_file;
pub mod artifact;

use std::sync::Arc;

use storage::Storage;

use crate::db::Db;
use crate::metadata::Metadata;
use crate::supply_chain::Immutability;
use crate::webhooks::{Event, Occurrence, Webhooks};
use archive_file::ArchiveFile;
use artifact::{Outcome, PublishRequest, Published, UploadError};

/// Publishing uploaded archives.
#[derive(Clone)]
pub struct Uploads {
    db: Db,
    storage: Storage,
    metadata: Arc<Metadata>,
    webhooks: Webhooks,
    immutability: Immutability,
}

impl Uploads {
    pub fn new(
        db: Db,
        storage: Storage,
        metadata: Arc<Metadata>,
        webhooks: Webhooks,
        immutability: Immutability,
    ) -> Self {
        Uploads {
            db,
            storage,
            metadata,
            webhooks,
            immutability,
        }
    }

    /// Publishes `archive` and, when that changed the package, drops this process's cached
    /// metadata of it (other replicas notice within their refresh interval).
    pub async fn upload(
        &self,
        archive: &ArchiveFile,
        request: PublishRequest,
    ) -> Result<Published, UploadError> {
        let published =
            artifact::publish(&self.db, &self.storage, self.immutability, archive, request).await?;
        if published.outcome != Outcome::Unchanged {
            self.metadata.package_changed(&published.package).await?;
        }
        self.webhooks.emit(&occurrences(&published)).await;
        Ok(published)
    }
}

/// What an upload tells the outgoing webhooks.
fn occurrences(published: &Published) -> Vec<Occurrence<'_>> {
    let release = |event| {
        Occurrence::release(
            event,
            published.package.as_str(),
            &published.version,
            &published.version_normalized,
            &published.reference,
        )
    };
    match published.outcome {
        Outcome::Created if published.new_package => vec![
            Occurrence::new(Event::NewPackage, published.package.as_str()),
            release(Event::NewRelease),
        ],
        Outcome::Created => vec![release(Event::NewRelease)],
        Outcome::Replaced => vec![release(Event::UpdateRelease)],
        Outcome::Unchanged => Vec::new(),
    }
}
