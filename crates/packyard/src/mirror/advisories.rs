//! A mirror's security advisories: its upstream's own (the `api-url` of the upstream
//! root's `security-advisories`), asked for lazily, one list per package kept in the
//! mirror-meta store (`{alias}/security-advisories/{vendor}/{name}.json`, shared by
//! replicas) and in memory, and revalidated like metadata: a list older than the
//! mirror's `sync_interval` is served at once and asked for again in the background.
//! With the upstream down, stored lists are served however old; a package never asked
//! about before makes the request fail (`502`), as a document never stored does:
//! answering "no advisories" for it would be a guess.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use storage::Store;

use super::config::MirrorConfig;
use super::documents::DocumentError;
use super::upstream::{Upstream, UpstreamError};
use crate::db::now_millis;

/// Lists held in memory before the cache is thinned.
const MEMORY_LIMIT: usize = 20_000;
/// Names per upstream request: Packagist accepts long lists, but a request must stay
/// well under any upstream's limits on bodies.
const NAMES_PER_REQUEST: usize = 200;

/// One package's advisories as the upstream last sent them.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    fetched_at: i64,
    advisories: Vec<Value>,
}

pub struct MirrorAdvisories {
    store: Store,
    upstream: Upstream,
    memory: RwLock<HashMap<String, Arc<Stored>>>,
    /// Store keys being revalidated in the background, so that a burst of requests
    /// starts one revalidation per list.
    refreshing: Mutex<HashSet<String>>,
}

/// The store key of `package`'s advisories in the mirror `alias`.
pub fn advisories_key(alias: &str, package: &str) -> String {
    format!("{alias}/security-advisories/{package}.json")
}

impl MirrorAdvisories {
    pub fn new(store: Store, upstream: Upstream) -> Self {
        MirrorAdvisories {
            store,
            upstream,
            memory: RwLock::default(),
            refreshing: Mutex::default(),
        }
    }

    /// The advisories of each of `packages` (names the mirror may proxy), from the
    /// upstream's `api_url`: `{"vendor/name": [...]}` with one entry per package.
    pub async fn get(
        self: &Arc<Self>,
        mirror: &Arc<MirrorConfig>,
        api_url: &str,
        packages: &[String],
    ) -> Result<Map<String, Value>, DocumentError> {
        let mut answer = Map::new();
        let mut missing = Vec::new();
        let mut stale = Vec::new();
        for package in packages {
            let key = advisories_key(&mirror.alias, package);
            let held = match self.held(&key) {
                Some(held) => Some(held),
                None => self.load(&key, false).await?,
            };
            match held {
                Some(held) => {
                    if !is_fresh(&held, mirror) {
                        stale.push(package.clone());
                    }
                    answer.insert(package.clone(), Value::Array(held.advisories.clone()));
                }
                None => missing.push(package.clone()),
            }
        }
        if !missing.is_empty() {
            let fetched = self.fetch(mirror, api_url, &missing).await?;
            answer.extend(fetched);
        }
        if !stale.is_empty() {
            self.revalidate_in_background(mirror, api_url, stale);
        }
        Ok(answer)
    }

    /// Drops what is stored of `package` (for `mirror forget`).
    pub async fn forget(&self, alias: &str, package: &str) -> Result<(), storage::StorageError> {
        let key = advisories_key(alias, package);
        self.store.delete(&key).await?;
        self.memory.write().unwrap().remove(&key);
        Ok(())
    }

    fn held(&self, key: &str) -> Option<Arc<Stored>> {
        self.memory.read().unwrap().get(key).cloned()
    }

    async fn load(&self, key: &str, fresh: bool) -> Result<Option<Arc<Stored>>, DocumentError> {
        let read = if fresh {
            self.store.get_bytes_fresh(key).await
        } else {
            self.store.get_bytes(key).await
        };
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(error) if error.is_not_found() => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        let Ok(stored) = serde_json::from_slice::<Stored>(&bytes) else {
            tracing::warn!(key, "ignoring unreadable stored advisories");
            return Ok(None);
        };
        let stored = Arc::new(stored);
        self.remember(key, stored.clone());
        Ok(Some(stored))
    }

    fn remember(&self, key: &str, stored: Arc<Stored>) {
        let mut memory = self.memory.write().unwrap();
        if memory.len() >= MEMORY_LIMIT {
            let victims: Vec<String> = memory.keys().step_by(2).cloned().collect();
            for victim in victims {
                memory.remove(&victim);
            }
        }
        memory.insert(key.to_owned(), stored);
    }

    /// Asks the upstream about `packages` and stores one list per package, an empty
    /// one for every package it has nothing for.
    async fn fetch(
        &self,
        mirror: &MirrorConfig,
        api_url: &str,
        packages: &[String],
    ) -> Result<Map<String, Value>, DocumentError> {
        let mut answer = Map::new();
        for batch in packages.chunks(NAMES_PER_REQUEST) {
            let mut received = self
                .upstream
                .advisories(mirror, api_url, batch)
                .await
                .map_err(DocumentError::Unavailable)?;
            let fetched_at = now_millis();
            for package in batch {
                let advisories = match received.remove(package) {
                    Some(Value::Array(list)) => list.into_iter().filter(Value::is_object).collect(),
                    _ => Vec::new(),
                };
                let stored = Arc::new(Stored {
                    fetched_at,
                    advisories,
                });
                let key = advisories_key(&mirror.alias, package);
                let bytes = serde_json::to_vec(&*stored).expect("JSON serializes");
                self.store.put_bytes(&key, bytes.into()).await?;
                answer.insert(package.clone(), Value::Array(stored.advisories.clone()));
                self.remember(&key, stored);
            }
        }
        Ok(answer)
    }

    /// Revalidates `packages` after the answer went out. A list another replica
    /// refreshed meanwhile is taken from the store instead of the upstream.
    fn revalidate_in_background(
        self: &Arc<Self>,
        mirror: &Arc<MirrorConfig>,
        api_url: &str,
        packages: Vec<String>,
    ) {
        let packages: Vec<String> = {
            let mut refreshing = self.refreshing.lock().unwrap();
            packages
                .into_iter()
                .filter(|package| refreshing.insert(advisories_key(&mirror.alias, package)))
                .collect()
        };
        if packages.is_empty() {
            return;
        }
        let this = self.clone();
        let mirror = mirror.clone();
        let api_url = api_url.to_owned();
        tokio::spawn(async move {
            let mut still_stale = Vec::new();
            for package in &packages {
                let key = advisories_key(&mirror.alias, package);
                match this.load(&key, true).await {
                    Ok(Some(stored)) if is_fresh(&stored, &mirror) => {}
                    _ => still_stale.push(package.clone()),
                }
            }
            if !still_stale.is_empty()
                && let Err(error) = this.fetch(&mirror, &api_url, &still_stale).await
            {
                tracing::warn!(%error, alias = %mirror.alias, "revalidating advisories failed; the stored lists are kept");
            }
            let mut refreshing = this.refreshing.lock().unwrap();
            for package in &packages {
                refreshing.remove(&advisories_key(&mirror.alias, package));
            }
        });
    }
}

fn is_fresh(stored: &Stored, mirror: &MirrorConfig) -> bool {
    now_millis() - stored.fetched_at < mirror.sync_interval.as_millis() as i64
}

/// The upstream's advisories API, from its root: `security-advisories.api-url`,
/// resolved against the mirror's URL when relative. `None` when it has none.
pub fn upstream_api_url(mirror: &MirrorConfig, upstream_root: &[u8]) -> Option<String> {
    let root: Value = serde_json::from_slice(upstream_root).ok()?;
    let url = root.get("security-advisories")?.get("api-url")?.as_str()?;
    let base = reqwest::Url::parse(&format!("{}/", mirror.url.trim_end_matches('/'))).ok()?;
    let resolved = base.join(url).ok()?;
    matches!(resolved.scheme(), "http" | "https").then(|| resolved.to_string())
}

/// What an upstream's advisories answer holds, by package name: Packagist writes an
/// empty object as `[]` when no package has any.
pub fn parse_upstream_answer(body: &[u8]) -> Option<Map<String, Value>> {
    let answer: Value = serde_json::from_slice(body).ok()?;
    match answer.get("advisories")? {
        Value::Object(map) => Some(map.clone()),
        Value::Array(list) if list.is_empty() => Some(Map::new()),
        _ => None,
    }
}

impl From<UpstreamError> for DocumentError {
    fn from(error: UpstreamError) -> Self {
        DocumentError::Unavailable(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mirror(url: &str) -> MirrorConfig {
        MirrorConfig::new("up", url)
    }

    #[test]
    fn the_api_url_comes_from_the_upstream_root() {
        let packagist = mirror("https://repo.packagist.org");
        let root = br#"{"security-advisories":{"metadata":true,"api-url":"https://packagist.org/api/security-advisories/"}}"#;
        assert_eq!(
            upstream_api_url(&packagist, root).as_deref(),
            Some("https://packagist.org/api/security-advisories/")
        );
        let relative = br#"{"security-advisories":{"api-url":"/api/security-advisories/"}}"#;
        assert_eq!(
            upstream_api_url(&mirror("http://127.0.0.1:9/repo"), relative).as_deref(),
            Some("http://127.0.0.1:9/api/security-advisories/")
        );
        for none in [
            &br#"{"security-advisories":{"metadata":true}}"#[..],
            br#"{"security-advisories":{"api-url":"file:///etc/passwd"}}"#,
            b"{}",
            b"not json",
        ] {
            assert_eq!(upstream_api_url(&packagist, none), None);
        }
    }

    #[test]
    fn upstream_answers_are_read_in_both_spellings() {
        assert_eq!(
            parse_upstream_answer(br#"{"advisories":[]}"#),
            Some(Map::new())
        );
        let map = parse_upstream_answer(br#"{"advisories":{"a/b":[{"advisoryId":"X"}]}}"#).unwrap();
        assert_eq!(map["a/b"][0]["advisoryId"], "X");
        assert_eq!(parse_upstream_answer(br#"{"advisories":[1]}"#), None);
        assert_eq!(parse_upstream_answer(br#"{"other":{}}"#), None);
    }
}
