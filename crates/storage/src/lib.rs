//! packyard's storage facade.
//!
//! Archives and mirrored files live in four named stores, as in Packeton: `dist` (zips
//! built from VCS packages), `artifact` (uploaded archives), `mirror-meta` and
//! `mirror-dist`. Each store is a backend plus a key prefix; the rest of the code only
//! sees [`Storage`] and [`Store`], never a backend.

mod error;
pub mod keys;
mod store;

pub use error::StorageError;
pub use store::{Object, Store};

use std::path::Path;

/// The four stores a packyard instance keeps its bytes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreName {
    Dist,
    Artifact,
    MirrorMeta,
    MirrorDist,
}

impl StoreName {
    pub const ALL: [StoreName; 4] = [
        StoreName::Dist,
        StoreName::Artifact,
        StoreName::MirrorMeta,
        StoreName::MirrorDist,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StoreName::Dist => "dist",
            StoreName::Artifact => "artifact",
            StoreName::MirrorMeta => "mirror-meta",
            StoreName::MirrorDist => "mirror-dist",
        }
    }

    /// Directory name under the data dir when the store is on local disk.
    fn local_dir(self) -> &'static str {
        match self {
            StoreName::Dist => "zipball",
            StoreName::Artifact => "artifact",
            StoreName::MirrorMeta => "mirror-meta",
            StoreName::MirrorDist => "mirror-dist",
        }
    }
}

/// The facade over the four stores.
#[derive(Debug, Clone)]
pub struct Storage {
    dist: Store,
    artifact: Store,
    mirror_meta: Store,
    mirror_dist: Store,
}

impl Storage {
    /// All four stores on local disk, each in its own directory under `root`.
    pub fn local(root: &Path) -> Result<Self, StorageError> {
        let open = |name: StoreName| Store::local(name, &root.join(name.local_dir()));
        Ok(Storage {
            dist: open(StoreName::Dist)?,
            artifact: open(StoreName::Artifact)?,
            mirror_meta: open(StoreName::MirrorMeta)?,
            mirror_dist: open(StoreName::MirrorDist)?,
        })
    }

    /// All four stores in memory: for tests of the logic above storage.
    pub fn in_memory() -> Self {
        Storage {
            dist: Store::in_memory(StoreName::Dist),
            artifact: Store::in_memory(StoreName::Artifact),
            mirror_meta: Store::in_memory(StoreName::MirrorMeta),
            mirror_dist: Store::in_memory(StoreName::MirrorDist),
        }
    }

    pub fn store(&self, name: StoreName) -> &Store {
        match name {
            StoreName::Dist => &self.dist,
            StoreName::Artifact => &self.artifact,
            StoreName::MirrorMeta => &self.mirror_meta,
            StoreName::MirrorDist => &self.mirror_dist,
        }
    }

    pub fn dist(&self) -> &Store {
        &self.dist
    }

    pub fn artifact(&self) -> &Store {
        &self.artifact
    }

    /// Writes, reads back and deletes a probe object in every store, so that a
    /// misconfigured backend is reported at start-up rather than on the first upload.
    pub async fn check(&self) -> Result<(), StorageError> {
        for name in StoreName::ALL {
            self.store(name).probe().await?;
        }
        Ok(())
    }
}
