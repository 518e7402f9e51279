//! Uploaded archives: receiving a zip (`archive_file`) and publishing it as a version
//! (`artifact`). [`upload`] is what the HTTP API and the CLI call.

pub mod archive_file;
pub mod artifact;

use crate::app::App;
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
    Ok(published)
}
