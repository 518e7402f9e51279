//! packyard's storage facade.
//!
//! Archives and mirrored files live in four named stores, as in Packeton: `dist` (zips
//! built from VCS packages), `artifact` (uploaded archives), `mirror-meta` and
//! `mirror-dist`. Each store is a backend plus a key prefix; the rest of the code only
//! sees [`Storage`] and [`Store`], never a backend.

mod backend;
pub mod cache;
pub mod config;
mod error;
pub mod keys;
pub mod metrics;
mod store;
mod transfer;
pub mod web_identity;

pub use config::StorageSettings;
pub use error::{Diagnosis, StorageError};
pub use store::{Object, Served, Store};

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use config::{BackendSpec, CacheSettings, StoreSpec};
use object_store::ObjectStore;
use object_store::prefix::PrefixStore;

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

    /// The stores clients download archives from (not mirrored metadata).
    pub fn holds_archives(self) -> bool {
        !matches!(self, StoreName::MirrorMeta)
    }

    pub fn parse(name: &str) -> Option<StoreName> {
        StoreName::ALL
            .into_iter()
            .find(|store| store.as_str() == name)
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
    /// Opens the four stores. Stores on the same backend share one client; remote
    /// stores get their local caches.
    pub fn open(settings: &StorageSettings) -> Result<Self, StorageError> {
        let mut clients: Vec<(BackendSpec, backend::Backend)> = Vec::new();
        let mut open_store =
            |name: StoreName, cache: &Option<CacheSettings>| -> Result<Store, StorageError> {
                let spec = settings.store(name);
                let client = if let Some((_, client)) =
                    clients.iter().find(|(known, _)| *known == spec.backend)
                {
                    client.clone()
                } else {
                    let client = backend::open(&spec.backend, settings.timeout)?;
                    clients.push((spec.backend.clone(), client.clone()));
                    client
                };
                let prefix = spec.prefix.trim_matches('/');
                let scoped: Arc<dyn ObjectStore> = match prefix {
                    "" => client.store,
                    prefix => Arc::new(PrefixStore::new(client.store, prefix)),
                };
                let mut store = Store::new(name, scoped).with_description(describe(spec));
                if !spec.backend.is_local() {
                    store = store.with_timeout(settings.timeout);
                }
                if let (Some(validity), Some(signer), true) = (
                    settings.download_redirect,
                    client.signer,
                    name.holds_archives(),
                ) {
                    store = store.with_redirects(signer, prefix, validity);
                }
                // A cache is an optimisation: when its directory cannot be used (a
                // read-only data dir, a full disk), the store works without it.
                let cache = cache
                    .as_ref()
                    .and_then(|cache| match cache::LocalCache::open(cache) {
                        Ok(opened) => Some(Arc::new(opened)),
                        Err(error) => {
                            tracing::warn!(%error, store = name.as_str(), "local cache disabled");
                            None
                        }
                    });
                Ok(store.with_cache(cache))
            };
        Ok(Storage {
            dist: open_store(StoreName::Dist, &None)?,
            artifact: open_store(StoreName::Artifact, &settings.artifact_cache)?,
            mirror_meta: open_store(StoreName::MirrorMeta, &settings.mirror_meta_cache)?,
            mirror_dist: open_store(StoreName::MirrorDist, &settings.mirror_dist_cache)?,
        })
    }

    /// All four stores on local disk, each in its own directory under `root`.
    pub fn local(root: &Path) -> Result<Self, StorageError> {
        let settings = config::from_env(&|_| None, root, &BTreeMap::new())
            .expect("the default configuration is valid");
        Self::open(&settings)
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

fn describe(spec: &StoreSpec) -> String {
    match spec.prefix.trim_matches('/') {
        "" => spec.backend.describe(),
        prefix => format!("{} under {prefix}/", spec.backend.describe()),
    }
}
