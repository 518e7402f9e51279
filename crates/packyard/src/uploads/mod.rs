//! Uploaded archives: receiving a zip (`archive_file`) and publishing it as a version
//! (`artifact`). [`upload`] is what the HTTP API and the CLI call.

pub mod archive_file;
pub mod artifact;

use crate::app::App;
use crate::webhooks::{self, Event, Occurrence};
use archive_file::ArchiveFile;
use artifact::{Outcome, PublishRequest, Published, UploadError};

/// Publishes `archive` and, when that changed the package, drops this process's cached
/// metadata of it (other replicas notice within their refresh interval).
pub async fn upload(
    app: &App,
    archive: &ArchiveFile,
    request: PublishRequest,
) -> Result<Published, UploadError> {
    let published = artifact::publish(&app.db, &app.storage, archive, request).await?;
    if published.outcome != Outcome::Unchanged {
        app.metadata.package_changed(&published.package).await?;
    }
    webhooks::emit(app, &occurrences(&published)).await;
    Ok(published)
}

/// What an upload tells the outgoing webhooks.
fn occurrences(published: &Published) -> Vec<Occurrence<'_>> {
    let release = |event| {
        Occurrence::release(
            event,
            &published.package,
            &published.version,
            &published.version_normalized,
            &published.reference,
        )
    };
    match published.outcome {
        Outcome::Created if published.new_package => vec![
            Occurrence::new(Event::NewPackage, &published.package),
            release(Event::NewRelease),
        ],
        Outcome::Created => vec![release(Event::NewRelease)],
        Outcome::Replaced => vec![release(Event::UpdateRelease)],
        Outcome::Unchanged => Vec::new(),
    }
}
