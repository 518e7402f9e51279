//! Block lists, the service: what `packyard block`, `/api/blocks` and the admin page
//! change. The rules they make — withdrawn versions, the archives' `410`, Composer's
//! `filter` entries — are applied by `supply_chain::blocks` where metadata is rendered.

use std::sync::Arc;

use composer::constraint::Constraint;

use crate::access::Actor;
use crate::db::{BlockRow, Db, NewBlock};
use crate::metadata::Metadata;
use crate::supply_chain::blocks::{InvalidCategory, check_category};

const MAX_REASON: usize = 500;
const MAX_URL: usize = 2048;

/// What an admin asks to block.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    pub package: String,
    /// A Composer constraint; every version when absent.
    #[serde(default)]
    pub versions: Option<String>,
    pub reason: String,
    pub category: String,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("invalid package name {name:?}: {reason}")]
    InvalidPackage { name: String, reason: String },
    #[error("versions {value:?} is not a Composer constraint: {reason}")]
    InvalidConstraint { value: String, reason: String },
    #[error("reason must be 1 to {MAX_REASON} characters on one line")]
    InvalidReason,
    #[error(transparent)]
    InvalidCategory(#[from] InvalidCategory),
    #[error("url must be an http or https URL of at most {MAX_URL} characters")]
    InvalidUrl,
    #[error("no block {0}")]
    UnknownBlock(i64),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl crate::error::Classify for BlockError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            BlockError::UnknownBlock(_) => ErrorKind::NotFound,
            BlockError::Database(error) => error.kind(),
            _ => ErrorKind::Invalid,
        }
    }
}

/// Block lists, for the CLI, the API and the web UI.
#[derive(Clone)]
pub struct Blocks {
    db: Db,
    metadata: Arc<Metadata>,
}

impl Blocks {
    pub fn new(db: Db, metadata: Arc<Metadata>) -> Self {
        Blocks { db, metadata }
    }

    /// Checks and records a block by `by`; the package's metadata changes at once here
    /// and within a second on other replicas.
    pub async fn add(
        &self,
        request: BlockRequest,
        actor: Actor<'_>,
    ) -> Result<BlockRow, BlockError> {
        let by = actor.name();
        let name = request.package.trim().to_ascii_lowercase();
        let package = composer::package_name::PackageName::parse(&name).map_err(|error| {
            BlockError::InvalidPackage {
                name: name.clone(),
                reason: error.to_string(),
            }
        })?;
        let versions = request
            .versions
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .unwrap_or("*")
            .to_owned();
        Constraint::parse(&versions).map_err(|error| BlockError::InvalidConstraint {
            value: versions.clone(),
            reason: error.to_string(),
        })?;
        let reason = request.reason.trim().to_owned();
        if reason.is_empty() || reason.chars().count() > MAX_REASON || reason.contains(['\n', '\r'])
        {
            return Err(BlockError::InvalidReason);
        }
        let category = check_category(&request.category)?;
        let url = request
            .url
            .map(|url| url.trim().to_owned())
            .filter(|url| !url.is_empty());
        if let Some(url) = &url
            && (url.len() > MAX_URL
                || !(url.starts_with("https://") || url.starts_with("http://"))
                || url.contains(char::is_whitespace))
        {
            return Err(BlockError::InvalidUrl);
        }
        let row = self
            .db
            .add_block(&NewBlock {
                package: package.to_string(),
                versions,
                category,
                reason,
                url,
                created_by: by.to_owned(),
            })
            .await?;
        self.metadata.blocks_changed(&package).await?;
        tracing::warn!(
            package = %row.package,
            versions = %row.versions,
            category = %row.category,
            by,
            "versions blocked"
        );
        Ok(row)
    }

    /// Every block, or those of `package`.
    pub async fn list(&self, package: Option<&str>) -> Result<Vec<BlockRow>, BlockError> {
        let package = package.map(|name| name.trim().to_ascii_lowercase());
        Ok(self.db.blocks(package.as_deref()).await?)
    }

    /// Lifts block `id`; returns it.
    pub async fn remove(&self, id: i64, actor: Actor<'_>) -> Result<BlockRow, BlockError> {
        let by = actor.name();
        let removed = self
            .db
            .remove_block(id)
            .await?
            .ok_or(BlockError::UnknownBlock(id))?;
        if let Ok(package) = composer::package_name::PackageName::parse(&removed.package) {
            self.metadata.blocks_changed(&package).await?;
        }
        tracing::warn!(package = %removed.package, versions = %removed.versions, by, "block lifted");
        Ok(removed)
    }

    /// Whether `category`'s blocked versions leave the metadata (`true`, the default)
    /// or stay in it, flagged.
    pub async fn set_withdraw(&self, category: &str, withdraw: bool) -> Result<(), BlockError> {
        let category = check_category(category)?;
        self.db.set_block_category(&category, withdraw).await?;
        self.metadata.refresh_blocks().await?;
        Ok(())
    }

    /// The categories in use, each with whether it withdraws.
    pub async fn categories(&self) -> Result<Vec<(String, bool)>, BlockError> {
        Ok(self.db.block_categories().await?)
    }
}
