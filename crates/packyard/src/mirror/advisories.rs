//! A mirror's security advisories: its upstream's own (the `api-url` of the upstream
//! root's `security-advisories`), asked for lazily and revalidated like metadata: a
//! list older than the mirror's `sync_interval` is answered at once and asked for
//! again in the background.
//!
//! What is kept, and where:
//! - a package with advisories: its list, checked entry by entry against Composer's
//!   format, in the mirror-meta store (`{alias}/security-advisories/{vendor}/{name}.json`,
//!   shared by replicas) and in memory;
//! - a package without any: an empty list in the store only when the mirror mirrors
//!   the package (one of its p2 documents is stored), so that nobody can fill the
//!   store by asking about made-up names; otherwise only in memory, for a while.
//!
//! With the upstream down, kept lists are answered however old; a package never asked
//! about makes the request fail (`502`), as a document never stored does: an empty
//! answer would be a guess. The answer names only packages with advisories, so a name
//! the mirror does not proxy and a clean one read alike, and Composer keeps asking
//! later repositories about both.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use storage::Store;

use super::config::MirrorConfig;
use super::documents::DocumentError;
use super::upstream::{Upstream, UpstreamError, decoy_name};
use crate::db::now_millis;

/// Lists held in memory before the cache is thinned, and names remembered as clean.
const MEMORY_LIMIT: usize = 20_000;
/// Names per upstream request, and requests in flight at once.
const NAMES_PER_REQUEST: usize = 100;
const REQUESTS_AT_ONCE: usize = 4;
/// All upstream requests for one client request finish within this, under the 10 s
/// Composer waits for an answer: however many names a client sends, the work it
/// causes upstream is bounded in time.
const FETCH_DEADLINE: Duration = Duration::from_secs(8);
/// Advisories kept per package, and the longest text field.
const MAX_PER_PACKAGE: usize = 200;
const MAX_FIELD: usize = 2048;

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
    /// Names the upstream had nothing for, not stored: when they were asked about.
    clean: Mutex<HashMap<String, Instant>>,
}

/// What memory and the store hold for some names.
pub struct Held {
    /// Names with advisories, and their lists.
    pub answer: Map<String, Value>,
    /// Names held but older than the mirror's `sync_interval`.
    pub stale: Vec<String>,
    /// Names never asked about (or forgotten).
    pub unknown: Vec<String>,
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
            clean: Mutex::default(),
        }
    }

    /// What is held for `packages`, without asking the upstream.
    pub async fn held(
        &self,
        mirror: &MirrorConfig,
        packages: &[String],
    ) -> Result<Held, DocumentError> {
        let mut held = Held {
            answer: Map::new(),
            stale: Vec::new(),
            unknown: Vec::new(),
        };
        let max_age = mirror.sync_interval;
        for package in packages {
            let key = advisories_key(&mirror.alias, package);
            let in_memory = self.memory.read().unwrap().get(&key).cloned();
            let stored = match in_memory {
                Some(stored) => Some(stored),
                None => self.load(&key, false).await?,
            };
            if let Some(stored) = stored {
                if now_millis() - stored.fetched_at >= max_age.as_millis() as i64 {
                    held.stale.push(package.clone());
                }
                if !stored.advisories.is_empty() {
                    held.answer
                        .insert(package.clone(), Value::Array(stored.advisories.clone()));
                }
                continue;
            }
            match self.clean.lock().unwrap().get(&key) {
                Some(asked) if asked.elapsed() < max_age => {}
                Some(_) => held.stale.push(package.clone()),
                None => held.unknown.push(package.clone()),
            }
        }
        Ok(held)
    }

    /// Asks the upstream about `packages` and keeps what it says (an empty list in the
    /// store only for names in `mirrored`). Returns the lists of those with advisories.
    ///
    /// Names in `withheld` (private packages') are not sent: each one's place in the
    /// request goes to a decoy ([`decoy_name`]), so the request costs, takes and fails
    /// as it would with the name in it; when it succeeds they are remembered as clean,
    /// as names the upstream does not know are, and left out of the answer. Nothing
    /// said about a decoy is kept.
    pub async fn fetch(
        &self,
        mirror: &MirrorConfig,
        api_url: &str,
        packages: &[String],
        withheld: &HashSet<String>,
        mirrored: &HashSet<String>,
    ) -> Result<Map<String, Value>, DocumentError> {
        use futures_util::StreamExt;
        let (hidden, sent): (Vec<&String>, Vec<&String>) = packages
            .iter()
            .partition(|package| withheld.contains(*package));
        let decoys: HashSet<String> = hidden.iter().map(|name| decoy_name(name)).collect();
        let asked: Vec<String> = sent
            .into_iter()
            .cloned()
            .chain(decoys.iter().cloned())
            .collect();
        // The futures are made before they go into the stream: a closure inside it
        // would make this future's `Send` depend on higher-ranked lifetimes the
        // compiler cannot prove.
        let asks: Vec<_> = asked
            .chunks(NAMES_PER_REQUEST)
            .map(|batch| self.ask_upstream(mirror, api_url, batch.to_vec()))
            .collect();
        let requests = futures_util::stream::iter(asks)
            .buffer_unordered(REQUESTS_AT_ONCE)
            .collect::<Vec<_>>();
        let answers = tokio::time::timeout(FETCH_DEADLINE, requests)
            .await
            .map_err(|_| {
                DocumentError::Unavailable(UpstreamError {
                    url: api_url.to_owned(),
                    reason: format!("no answer within {} s", FETCH_DEADLINE.as_secs()),
                })
            })?;
        let mut answer = Map::new();
        for outcome in answers {
            let (batch, mut received) = outcome.map_err(DocumentError::Unavailable)?;
            let fetched_at = now_millis();
            for package in batch.iter().filter(|name| !decoys.contains(*name)) {
                let list = match received.remove(package) {
                    Some(Value::Array(list)) => list,
                    // Packagist answers only for names it knows: one left out has
                    // no advisories there.
                    None => Vec::new(),
                    // Spelled as something else than a list: not known to be clean,
                    // keep what is held.
                    Some(_) => continue,
                };
                let advisories = checked(package, list);
                let key = advisories_key(&mirror.alias, package);
                if advisories.is_empty() && !mirrored.contains(package) {
                    self.remember_clean(&key);
                    continue;
                }
                if !advisories.is_empty() {
                    answer.insert(package.clone(), Value::Array(advisories.clone()));
                }
                let stored = Arc::new(Stored {
                    fetched_at,
                    advisories,
                });
                let bytes = serde_json::to_vec(&*stored).expect("JSON serializes");
                self.store.put_bytes(&key, bytes.into()).await?;
                self.remember(&key, stored);
            }
        }
        for package in hidden {
            self.remember_clean(&advisories_key(&mirror.alias, package));
        }
        Ok(answer)
    }

    async fn ask_upstream(
        &self,
        mirror: &MirrorConfig,
        api_url: &str,
        batch: Vec<String>,
    ) -> Result<(Vec<String>, Map<String, Value>), UpstreamError> {
        let received = self.upstream.advisories(mirror, api_url, &batch).await?;
        Ok((batch, received))
    }

    /// Revalidates `packages` after the answer went out (those in `withheld` by
    /// decoys, as [`Self::fetch`] does). A list another replica refreshed meanwhile is
    /// taken from the store instead of the upstream.
    pub fn revalidate_in_background(
        self: &Arc<Self>,
        mirror: &Arc<MirrorConfig>,
        api_url: &str,
        packages: Vec<String>,
        withheld: HashSet<String>,
        mirrored: HashSet<String>,
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
            let max_age = mirror.sync_interval.as_millis() as i64;
            let mut still_stale = Vec::new();
            for package in &packages {
                let key = advisories_key(&mirror.alias, package);
                match this.load(&key, true).await {
                    Ok(Some(stored)) if now_millis() - stored.fetched_at < max_age => {}
                    _ => still_stale.push(package.clone()),
                }
            }
            if !still_stale.is_empty()
                && let Err(error) = this
                    .fetch(&mirror, &api_url, &still_stale, &withheld, &mirrored)
                    .await
            {
                tracing::warn!(%error, alias = %mirror.alias, "revalidating advisories failed; the kept lists stay");
            }
            let mut refreshing = this.refreshing.lock().unwrap();
            for package in &packages {
                refreshing.remove(&advisories_key(&mirror.alias, package));
            }
        });
    }

    /// Drops what is kept of `package` (for `mirror forget`).
    pub async fn forget(&self, alias: &str, package: &str) -> Result<(), storage::StorageError> {
        let key = advisories_key(alias, package);
        self.store.delete(&key).await?;
        self.memory.write().unwrap().remove(&key);
        self.clean.lock().unwrap().remove(&key);
        Ok(())
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
            // Thin the cache rather than grow without bound; lists come back from the
            // store when asked for again.
            let victims: Vec<String> = memory.keys().step_by(2).cloned().collect();
            for victim in victims {
                memory.remove(&victim);
            }
        }
        memory.insert(key.to_owned(), stored);
    }

    fn remember_clean(&self, key: &str) {
        let mut clean = self.clean.lock().unwrap();
        if clean.len() >= MEMORY_LIMIT {
            clean.clear();
        }
        clean.insert(key.to_owned(), Instant::now());
    }
}

/// The entries of `list` that Composer can read (`advisoryId` and a parsable
/// `affectedVersions` at least), reduced to Composer's fields and bounded in size: one
/// malformed entry would otherwise make `composer audit` fail for every project.
pub fn checked(package: &str, list: Vec<Value>) -> Vec<Value> {
    let text = |entry: &Map<String, Value>, field: &str| -> Option<String> {
        entry
            .get(field)?
            .as_str()
            .filter(|s| !s.is_empty() && s.len() <= MAX_FIELD)
            .map(str::to_owned)
    };
    let mut kept = Vec::new();
    for entry in list {
        let Value::Object(entry) = entry else {
            continue;
        };
        let (Some(id), Some(affected)) =
            (text(&entry, "advisoryId"), text(&entry, "affectedVersions"))
        else {
            continue;
        };
        if composer::constraint::Constraint::parse(&affected).is_err() {
            continue;
        }
        let mut advisory = Map::new();
        advisory.insert("advisoryId".into(), id.into());
        advisory.insert("packageName".into(), package.into());
        advisory.insert("affectedVersions".into(), affected.into());
        for field in ["title", "reportedAt", "cve", "link", "severity"] {
            if let Some(value) = text(&entry, field) {
                advisory.insert(field.into(), value.into());
            }
        }
        let sources: Vec<Value> = entry
            .get("sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|source| {
                let source = source.as_object()?;
                Some(serde_json::json!({"name": text(source, "name")?, "remoteId": text(source, "remoteId")?}))
            })
            .take(20)
            .collect();
        if !sources.is_empty() {
            advisory.insert("sources".into(), Value::Array(sources));
        }
        kept.push(Value::Object(advisory));
        if kept.len() == MAX_PER_PACKAGE {
            break;
        }
    }
    kept
}

/// The upstream's advisories API, from its root: `security-advisories.api-url`,
/// resolved against the mirror's URL when relative. Only on the mirror's own host or a
/// parent domain of it (`repo.packagist.org` announces `packagist.org`), never over
/// plain http for an https mirror: an upstream's root must not make us post elsewhere.
pub fn upstream_api_url(mirror: &MirrorConfig, upstream_root: &[u8]) -> Option<String> {
    let root: Value = serde_json::from_slice(upstream_root).ok()?;
    let url = root.get("security-advisories")?.get("api-url")?.as_str()?;
    let base = reqwest::Url::parse(&format!("{}/", mirror.url.trim_end_matches('/'))).ok()?;
    let resolved = base.join(url).ok()?;
    let allowed_scheme = match base.scheme() {
        "https" => resolved.scheme() == "https",
        "http" => matches!(resolved.scheme(), "http" | "https"),
        _ => false,
    };
    let (Some(host), Some(api_host)) = (base.host_str(), resolved.host_str()) else {
        return None;
    };
    let same_host =
        host == api_host && base.port_or_known_default() == resolved.port_or_known_default();
    let parent = api_host.contains('.') && host.ends_with(&format!(".{api_host}"));
    (allowed_scheme && (same_host || parent) && resolved.username().is_empty())
        .then(|| resolved.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mirror(url: &str) -> MirrorConfig {
        MirrorConfig::new("up", url)
    }

    #[test]
    fn the_api_url_comes_from_the_upstream_root_and_stays_near_it() {
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
        for elsewhere in [
            &br#"{"security-advisories":{"api-url":"https://169.254.169.254/latest/"}}"#[..],
            br#"{"security-advisories":{"api-url":"http://packagist.org/api/"}}"#,
            br#"{"security-advisories":{"api-url":"https://evil-packagist.org/api/"}}"#,
            br#"{"security-advisories":{"api-url":"https://org/api/"}}"#,
            br#"{"security-advisories":{"api-url":"https://u:p@packagist.org/api/"}}"#,
            br#"{"security-advisories":{"api-url":"file:///etc/passwd"}}"#,
            br#"{"security-advisories":{"metadata":true}}"#,
            b"{}",
            b"not json",
        ] {
            assert_eq!(
                upstream_api_url(&packagist, elsewhere),
                None,
                "{}",
                String::from_utf8_lossy(elsewhere)
            );
        }
        let other_port = br#"{"security-advisories":{"api-url":"http://127.0.0.1:10/api/"}}"#;
        assert_eq!(
            upstream_api_url(&mirror("http://127.0.0.1:9"), other_port),
            None
        );
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

    #[test]
    fn only_entries_composer_can_read_are_kept() {
        let list = vec![
            json!({"advisoryId": "A", "affectedVersions": "<1.2", "title": "T", "extra": "dropped",
                   "sources": [{"name": "GitHub", "remoteId": "GHSA-1"}, {"name": 1}], "packageName": "other/name"}),
            json!({"advisoryId": "B", "affectedVersions": "not a constraint!!"}),
            json!({"affectedVersions": "<1"}),
            json!({"advisoryId": "D", "affectedVersions": "<1", "title": "x".repeat(MAX_FIELD + 1)}),
            json!("not an object"),
        ];
        let kept = checked("a/b", list);
        assert_eq!(kept.len(), 2);
        assert_eq!(
            kept[0],
            json!({"advisoryId": "A", "packageName": "a/b", "affectedVersions": "<1.2", "title": "T",
                   "sources": [{"name": "GitHub", "remoteId": "GHSA-1"}]})
        );
        assert!(kept[1].get("title").is_none());
        let many = (0..MAX_PER_PACKAGE + 5)
            .map(|i| json!({"advisoryId": i.to_string(), "affectedVersions": "*"}))
            .collect();
        assert_eq!(checked("a/b", many).len(), MAX_PER_PACKAGE);
    }
}
