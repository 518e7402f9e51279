//! Mirrors of Composer repositories (packagist.org by default): metadata proxied lazily,
//! archives cached in storage, all state in the mirror stores so replicas share it.

pub mod advisories;
pub mod config;
pub mod dists;
pub mod documents;
pub mod upstream;

use std::collections::BTreeMap;
use std::sync::Arc;

use composer::package_name::{NameError, PackageName};
use serde_json::{Map, Value, json};
use storage::{Storage, StoreName, keys};

use crate::db::Db;
use crate::metadata::Metadata;

use advisories::MirrorAdvisories;
use config::MirrorConfig;
use dists::{DistError, DistIdentity, DistReply, DistSource, Dists};
use documents::{DocumentError, Documents, GoneDocument, MirroredDoc};
use upstream::Upstream;

/// The mirrors in effect and what they serve. Every way in (HTTP and CLI) comes through
/// here, and so through the same access policy: never a private package's name, only
/// allowed names, and for strict mirrors only approved ones.
pub struct Mirrors {
    configs: BTreeMap<String, Arc<MirrorConfig>>,
    pub documents: Arc<Documents>,
    pub dists: Arc<Dists>,
    advisories: Arc<MirrorAdvisories>,
    upstream: Upstream,
    db: Db,
    metadata: Arc<Metadata>,
    /// Documents after the supply-chain rules, per mirror and path, for
    /// [`RULES_KEPT_FOR`]: block lists and approvals changed on any replica apply
    /// within it.
    ruled: std::sync::RwLock<std::collections::HashMap<String, Arc<RuledDoc>>>,
    /// `PACKYARD_RELEASE_AGE_EXEMPT_FIXES`: a version that fixes an advisory passes
    /// cooldowns here too.
    exempt_fixes: bool,
}

/// How long a document after the supply-chain rules is served before they are applied
/// again (they read the block lists and plugin approvals).
const RULES_KEPT_FOR: std::time::Duration = std::time::Duration::from_secs(2);
/// The most ruled documents kept; past it the cache starts over.
const MAX_RULED: usize = 10_000;

/// A mirrored document as served after the supply-chain rules, with what they took out.
pub struct RuledDoc {
    pub doc: Arc<MirroredDoc>,
    /// The stored document it was made from, told apart by when it was fetched.
    from_fetched_at: i64,
    made_at: std::time::Instant,
    ruled: crate::supply_chain::mirrored::Ruled,
}

/// Why a mirror does not serve a package. Each reads like an unknown package to
/// Composer (404), with the reason for people; a private package's refusal is answered
/// exactly as a package the upstream does not have, since it would name a private
/// package to whoever may use the mirror.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("{package} is a private package here; the {alias} mirror does not proxy it")]
    PrivatePackage { package: String, alias: String },
    #[error("{package} is not available from the {alias} mirror")]
    NotAvailable { package: String, alias: String },
    #[error(
        "{package} is not approved for the {alias} mirror (packyard mirror approve {alias} {package})"
    )]
    NotApproved { package: String, alias: String },
}

impl Mirrors {
    pub fn new(
        configs: Vec<MirrorConfig>,
        storage: &Storage,
        db: Db,
        metadata: Arc<Metadata>,
        network_policy: crate::outbound::NetworkPolicy,
        webhooks: crate::webhooks::Webhooks,
        supply_chain: crate::supply_chain::SupplyChainSettings,
    ) -> Self {
        let upstream = Upstream::new(network_policy);
        let dists = Dists::new(
            storage.store(StoreName::MirrorDist).clone(),
            upstream.clone(),
            db.clone(),
            webhooks.clone(),
        );
        Mirrors {
            db: db.clone(),
            metadata,
            configs: configs
                .into_iter()
                .map(|m| (m.alias.clone(), Arc::new(m)))
                .collect(),
            documents: Arc::new(
                Documents::new(
                    storage.store(StoreName::MirrorMeta).clone(),
                    upstream.clone(),
                )
                .keeping(supply_chain.immutable_versions, webhooks, db),
            ),
            dists: Arc::new(dists),
            advisories: Arc::new(MirrorAdvisories::new(
                storage.store(StoreName::MirrorMeta).clone(),
                upstream.clone(),
            )),
            upstream,
            ruled: std::sync::RwLock::default(),
            exempt_fixes: supply_chain.release_age_exempt_fixes,
        }
    }

    /// `doc` (the stored `path` of `package`) after the supply-chain rules of `mirror`:
    /// the upstream's `filter` lists and the admins' blocks withdraw versions, a
    /// cooldown (the mirror's, or the caller's `cooldown` when longer) holds fresh ones
    /// back, unapproved plugins are left out.
    async fn ruled(
        &self,
        mirror: &Arc<MirrorConfig>,
        package: &str,
        path: &str,
        doc: Arc<MirroredDoc>,
        archives_at: Option<&str>,
        cooldown: Option<i64>,
    ) -> Result<Arc<RuledDoc>, MirrorError> {
        use crate::supply_chain::{blocks::BlockRules, mirrored, plugins::PluginPolicy};
        let archives_at = archives_at.filter(|_| mirror.enable_dist_mirror);
        let min_release_age = mirror.min_release_age.max(cooldown);
        let key = format!(
            "{}/{path} {} {}",
            mirror.alias,
            archives_at.unwrap_or_default(),
            min_release_age.unwrap_or_default()
        );
        if let Some(kept) = self.ruled.read().unwrap().get(&key)
            && kept.from_fetched_at == doc.fetched_at
            && kept.made_at.elapsed() < RULES_KEPT_FOR
        {
            return Ok(kept.clone());
        }
        let blocks = self.db.blocks(Some(package)).await?;
        let blocks = if blocks.is_empty() {
            BlockRules::default()
        } else {
            BlockRules::new(blocks, &self.db.block_categories().await?)
        };
        let approved = if mirror.plugins == PluginPolicy::Approve {
            self.db.approved_majors(&mirror.alias, package).await?
        } else {
            Vec::new()
        };
        let archive_url = |normalized: &str, reference: &str, kind: &str| {
            let pattern = archives_at.unwrap_or_default();
            composer_mirror_url(pattern, package, normalized, normalized, reference, kind)
        };
        let mut rules = mirrored::MirrorRules {
            min_release_age,
            advisories_affect: &[],
            plugins: mirror.plugins,
            approved_majors: &approved,
            blocks: &blocks,
            now: crate::db::now_millis(),
            archive_url: archives_at.map(|_| &archive_url as &mirrored::ArchiveUrl<'_>),
        };
        let mut outcome = mirrored::apply(package, &doc.body, &rules);
        // The advisories are asked for (of the upstream, at worst) only when the
        // cooldown held a version back, which one of them may let through as a fix.
        let advisories_affect;
        if outcome.too_young && self.exempt_fixes {
            advisories_affect = self.advisories_affecting(mirror, package).await;
            if !advisories_affect.is_empty() {
                rules.advisories_affect = &advisories_affect;
                outcome = mirrored::apply(package, &doc.body, &rules);
            }
        }
        // Dated no earlier than the last change of the rules or version that came of
        // age, so that a client's cached copy (If-Modified-Since) is replaced after one.
        let rules_changed = self
            .db
            .supply_chain_stamp()
            .await?
            .max(outcome.came_of_age_at.unwrap_or(0));
        let upstream_date = doc.last_modified();
        let rules_date = std::time::UNIX_EPOCH
            + std::time::Duration::from_millis(u64::try_from(rules_changed).unwrap_or(0));
        let served = if outcome.body.is_none() && rules_date <= upstream_date {
            doc.clone()
        } else {
            Arc::new(MirroredDoc {
                body: outcome
                    .body
                    .clone()
                    .map_or_else(|| doc.body.clone(), Into::into),
                upstream_last_modified: Some(httpdate::fmt_http_date(
                    upstream_date.max(rules_date),
                )),
                ..(*doc).clone()
            })
        };
        let made = Arc::new(RuledDoc {
            doc: served,
            from_fetched_at: doc.fetched_at,
            made_at: std::time::Instant::now(),
            ruled: outcome,
        });
        let mut kept = self.ruled.write().unwrap();
        if kept.len() >= MAX_RULED {
            kept.clear();
        }
        kept.insert(key, made.clone());
        Ok(made)
    }

    /// The affected versions of `package`'s advisories, the upstream's (as
    /// [`Self::advisories`] gives them) and the admins': a cooldown lets fixes through.
    /// An upstream that cannot say gives none, with a warning: the cooldown then holds
    /// a fix back as it holds any fresh version, which is safe.
    async fn advisories_affecting(
        &self,
        mirror: &Arc<MirrorConfig>,
        package: &str,
    ) -> Vec<composer::constraint::Constraint> {
        let asked = [package.to_owned()];
        let mut texts: Vec<String> = match self.advisories(mirror, &asked).await {
            Ok(lists) => lists
                .get(package)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|advisory| advisory.get("affectedVersions")?.as_str())
                .map(str::to_owned)
                .collect(),
            Err(error) => {
                tracing::warn!(%error, alias = %mirror.alias, package, "the upstream's advisories are unknown; no fix passes the cooldown early");
                Vec::new()
            }
        };
        match self.db.advisories(Some(&asked)).await {
            Ok(own) => texts.extend(own.into_iter().map(|a| a.affected_versions)),
            Err(error) => tracing::warn!(%error, package, "reading advisories failed"),
        }
        texts
            .iter()
            .filter_map(|text| composer::constraint::Constraint::parse(text).ok())
            .collect()
    }

    /// The `filter` lists `mirror`'s upstream root enables and the mirror enforces
    /// ([`upstream_filter_lists`]), from the root as stored (fetched when none is): what
    /// a repository that includes the mirror announces.
    pub async fn filter_lists(&self, mirror: &Arc<MirrorConfig>) -> Vec<String> {
        match self.documents.get(mirror, "packages.json").await {
            Ok(Some(root)) => match serde_json::from_slice::<Value>(&root.body) {
                Ok(Value::Object(root)) => upstream_filter_lists(&root),
                _ => Vec::new(),
            },
            Ok(None) => Vec::new(),
            Err(error) => {
                tracing::warn!(%error, alias = %mirror.alias, "the upstream's root is unknown; its filter lists are not announced");
                Vec::new()
            }
        }
    }

    /// How the upstream of `alias` answered this process's metadata requests lately.
    pub fn upstream_contact(&self, alias: &str) -> upstream::Contact {
        self.upstream.contact(alias)
    }

    pub fn get(&self, alias: &str) -> Option<&Arc<MirrorConfig>> {
        self.configs.get(alias)
    }

    pub fn aliases(&self) -> impl Iterator<Item = &String> {
        self.configs.keys()
    }

    /// The mirrors a repository includes, in the order they are asked for a package:
    /// for the root (`None`), those configured with `include_in_root`; for a
    /// sub-repository, the aliases it lists that are configured.
    pub fn included_in(&self, sub_repository: Option<&[String]>) -> Vec<Arc<MirrorConfig>> {
        match sub_repository {
            None => self
                .configs
                .values()
                .filter(|mirror| mirror.include_in_root)
                .cloned()
                .collect(),
            Some(aliases) => aliases
                .iter()
                .filter_map(|alias| self.configs.get(alias).cloned())
                .collect(),
        }
    }

    /// The p2 document of `package` (`~dev` when `dev`), or `None` when the upstream
    /// does not have it.
    ///
    /// With the upstream unreachable and nothing stored for this document, a package
    /// whose other document is stored answers `None`: its archives and its other
    /// versions are here, and Composer, which asks for both files and fails on
    /// anything but a 404, can install them (the upstream's 404 for this file was
    /// never stored, being the answer for any name).
    ///
    /// `cooldown` is the caller's own minimum release age for this mirror
    /// ([`crate::access::View::mirror_release_age`]).
    pub async fn metadata(
        &self,
        mirror: &Arc<MirrorConfig>,
        package: &PackageName,
        dev: bool,
        archives_at: Option<&str>,
        cooldown: Option<i64>,
    ) -> Result<Option<Arc<MirroredDoc>>, MirrorError> {
        match self.admit(mirror, package).await {
            // As if the upstream did not have it, timing, failures and counters
            // included: a private name must not show through a mirror that anonymous
            // clients or customers may use.
            Err(MirrorError::Refused(Refusal::PrivatePackage { .. })) => {
                self.documents
                    .get_withheld(mirror, package.as_str(), dev)
                    .await?;
                return Ok(None);
            }
            admitted => admitted?,
        }
        let package = package.as_str();
        match self.documents.get(mirror, &p2_path(package, dev)).await {
            Err(DocumentError::Unavailable(error)) => {
                let other = p2_path(package, !dev);
                match self.documents.stored(mirror, &other).await? {
                    Some(_) => {
                        tracing::warn!(%error, package, dev, "upstream unreachable; answering from the package's other stored document");
                        Ok(None)
                    }
                    None => Err(DocumentError::Unavailable(error).into()),
                }
            }
            answer => match answer? {
                Some(doc) => {
                    let path = p2_path(package, dev);
                    Ok(Some(
                        self.ruled(mirror, package, &path, doc, archives_at, cooldown)
                            .await?
                            .doc
                            .clone(),
                    ))
                }
                None => Ok(None),
            },
        }
    }

    /// The archive of `package` at `version` (normalized, or md5-hashed when it holds a
    /// `/`, as in the dist-url Composer fills in) and `reference`.
    ///
    /// The stored documents are asked first and, when one of them names the archive and
    /// the archive is stored, nothing else is: the upstream is not contacted at all.
    /// Then the archive is looked for under the key the request itself spells (a
    /// version since dropped upstream). Only then are documents that are not stored
    /// fetched, the one the version belongs to first (a tagged version needs the
    /// tagged document only). A version `cooldown` holds back from the caller is
    /// unknown, as it is in the metadata.
    pub async fn archive(
        &self,
        mirror: &Arc<MirrorConfig>,
        package: &PackageName,
        version: &str,
        reference: &str,
        kind: &str,
        cooldown: Option<i64>,
    ) -> Result<DistReply, MirrorError> {
        match self.admit(mirror, package).await {
            // As if the upstream had no such version (see `metadata`).
            Err(MirrorError::Refused(Refusal::PrivatePackage { .. })) => {
                self.withheld_archive(mirror, package.as_str(), version, kind)
                    .await?;
                return Err(MirrorError::UnknownVersion {
                    package: package.to_string(),
                    version: version.to_owned(),
                    reference: reference.to_owned(),
                });
            }
            admitted => admitted?,
        }
        let package = package.as_str();
        let dev_first = composer::version::is_dev(version) || is_md5_hex(version);
        let paths = [p2_path(package, dev_first), p2_path(package, !dev_first)];
        let locate =
            |doc: &MirroredDoc| locate_dist(mirror, package, version, reference, kind, doc);

        let mut found = None;
        let mut not_stored = Vec::new();
        for path in &paths {
            match self.documents.stored(mirror, path).await? {
                Some(doc) => {
                    found = locate(&doc);
                    if let Some(located) = &found {
                        self.judge(mirror, package, path, doc, located, cooldown)
                            .await?;
                    }
                }
                None => not_stored.push(path),
            }
            if found.is_some() {
                break;
            }
        }
        if found.is_none() && !is_md5_hex(version) {
            // A version the upstream dropped (a deleted tag) is in no document any more,
            // but its archive may well be stored: lock files still point at it.
            // Read past local caches, which may still hold archives an admin forgot.
            let key = keys::mirror_dist(&mirror.alias, package, version, reference, kind);
            if let Some(object) = self.dists.stored_in_backend(&key).await? {
                return Ok(DistReply::Stored(object));
            }
        }
        let mut failure = None;
        for path in not_stored {
            if found.is_some() {
                break;
            }
            match self.documents.get(mirror, path).await {
                Ok(Some(doc)) => {
                    found = locate(&doc);
                    if let Some(located) = &found {
                        self.judge(mirror, package, path, doc, located, cooldown)
                            .await?;
                    }
                }
                Ok(None) => {}
                Err(error @ DocumentError::Storage(_)) => return Err(error.into()),
                // An optional document the upstream cannot give is no error as long as
                // another one answers.
                Err(error) => {
                    failure.get_or_insert(error);
                }
            }
        }
        let Some(found) = found else {
            return Err(match failure {
                Some(error) => error.into(),
                None => MirrorError::UnknownVersion {
                    package: package.to_owned(),
                    version: version.to_owned(),
                    reference: reference.to_owned(),
                },
            });
        };
        if let Some(object) = self.dists.stored(&found.key).await? {
            return Ok(DistReply::Stored(object));
        }
        // Only a download needs the upstream root, for its own `mirrors` dist-urls.
        let root = self
            .documents
            .get(mirror, "packages.json")
            .await
            .ok()
            .flatten();
        let source = found.source(mirror, root.as_ref().map(|r| r.body.as_ref()));
        Ok(self.dists.fetch(mirror, source).await?)
    }

    /// Every version of `package` the mirror `alias` has stored, as (normalized version,
    /// fields): what `packyard plugin approve` approves when it is named no major.
    pub async fn stored_versions_with_fields(
        &self,
        mirror: &MirrorConfig,
        package: &str,
    ) -> Result<Vec<(String, Map<String, Value>)>, MirrorError> {
        let mut found = Vec::new();
        for dev in [false, true] {
            if let Some(doc) = self
                .documents
                .stored(mirror, &p2_path(package, dev))
                .await?
            {
                found.extend(versions_of(&doc, package).into_iter().map(|version| {
                    let normalized = version
                        .get("version_normalized")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    (normalized, version)
                }));
            }
        }
        Ok(found)
    }

    /// Refuses the archive of a version the supply-chain rules took out of `doc`: a
    /// listed one with its reason (`410`), a held back or unapproved one as unknown.
    async fn judge(
        &self,
        mirror: &Arc<MirrorConfig>,
        package: &str,
        path: &str,
        doc: Arc<MirroredDoc>,
        located: &LocatedDist,
        cooldown: Option<i64>,
    ) -> Result<(), MirrorError> {
        let ruled = self
            .ruled(mirror, package, path, doc, None, cooldown)
            .await?;
        if let Some(notice) = ruled.ruled.blocked.get(&located.normalized) {
            return Err(MirrorError::Blocked(Box::new(notice.clone())));
        }
        if ruled.ruled.hidden.contains(&located.normalized) {
            return Err(MirrorError::UnknownVersion {
                package: package.to_owned(),
                version: located.pretty.clone(),
                reference: located.reference.clone(),
            });
        }
        Ok(())
    }

    /// What [`Self::archive`] does for a package the upstream does not have — the
    /// same reads, then each document asked for — for a private package's name, whose
    /// documents are withheld from the upstream ([`Documents::get_withheld`]): the
    /// answer comes as late, and counted alike. Nothing read is served. An upstream
    /// failure is returned as `archive` would return it.
    async fn withheld_archive(
        &self,
        mirror: &Arc<MirrorConfig>,
        package: &str,
        version: &str,
        kind: &str,
    ) -> Result<(), MirrorError> {
        let dev_first = composer::version::is_dev(version) || is_md5_hex(version);
        for dev in [dev_first, !dev_first] {
            self.documents
                .stored(mirror, &p2_path(package, dev))
                .await?;
        }
        if !is_md5_hex(version) {
            // The key's reference does not matter to the read's cost.
            let key = keys::mirror_dist(&mirror.alias, package, version, "0", kind);
            self.dists.stored_in_backend(&key).await?;
        }
        let mut failure = None;
        for dev in [dev_first, !dev_first] {
            match self.documents.get_withheld(mirror, package, dev).await {
                Ok(()) => {}
                Err(error @ DocumentError::Storage(_)) => return Err(error.into()),
                Err(error) => {
                    failure.get_or_insert(error);
                }
            }
        }
        failure.map_or(Ok(()), |error| Err(error.into()))
    }

    /// The upstream's security advisories for the names of `asked` that this mirror
    /// may proxy (others are left out, as unknown names are), by package name. Empty
    /// when the upstream announces no advisories API.
    pub async fn advisories(
        &self,
        mirror: &Arc<MirrorConfig>,
        asked: &[String],
    ) -> Result<Map<String, Value>, MirrorError> {
        let mut admitted = Vec::new();
        // Private packages' names go the way unknown names go, but for the upstream
        // request, where a decoy takes their place, and the answer, which leaves them
        // out (see `MirrorAdvisories::fetch`).
        let mut withheld = std::collections::HashSet::new();
        for name in asked {
            let Ok(package) = PackageName::parse(name) else {
                continue;
            };
            match self.admit(mirror, &package).await {
                Ok(()) => admitted.push(name.clone()),
                Err(MirrorError::Refused(Refusal::PrivatePackage { .. })) => {
                    withheld.insert(name.clone());
                    admitted.push(name.clone());
                }
                Err(MirrorError::Refused(_)) => {}
                Err(error) => return Err(error),
            }
        }
        if admitted.is_empty() {
            return Ok(Map::new());
        }
        let root = self.documents.get(mirror, "packages.json").await?;
        let Some(api_url) = root.and_then(|root| advisories::upstream_api_url(mirror, &root.body))
        else {
            return Ok(Map::new());
        };
        let held = self.advisories.held(mirror, &admitted).await?;
        let mut answer = held.answer;
        answer.retain(|name, _| !withheld.contains(name));
        let asked_upstream: Vec<String> = held.unknown.iter().chain(&held.stale).cloned().collect();
        let mut mirrored = self.mirrored_among(mirror, &asked_upstream).await?;
        mirrored.retain(|name| !withheld.contains(name));
        if !held.unknown.is_empty() {
            answer.extend(
                self.advisories
                    .fetch(mirror, &api_url, &held.unknown, &withheld, &mirrored)
                    .await?,
            );
        }
        if !held.stale.is_empty() {
            self.advisories
                .revalidate_in_background(mirror, &api_url, held.stale, withheld, mirrored);
        }
        Ok(answer)
    }

    /// The names among `packages` that this mirror mirrors: one of their p2 documents
    /// is stored.
    async fn mirrored_among(
        &self,
        mirror: &MirrorConfig,
        packages: &[String],
    ) -> Result<std::collections::HashSet<String>, MirrorError> {
        let mut mirrored = std::collections::HashSet::new();
        for package in packages {
            for dev in [false, true] {
                if self
                    .documents
                    .stored(mirror, &p2_path(package, dev))
                    .await?
                    .is_some()
                {
                    mirrored.insert(package.clone());
                    break;
                }
            }
        }
        Ok(mirrored)
    }

    /// Counts the installs of `downloads` (package, normalized version) that went
    /// through `mirror`: only names it proxies, and only versions one of the package's
    /// stored documents lists, so that nobody can grow the table with made-up names.
    pub async fn record_downloads(
        &self,
        mirror: &Arc<MirrorConfig>,
        downloads: Vec<(String, String, i64)>,
    ) -> Result<(), MirrorError> {
        let mut listed: BTreeMap<String, Option<std::collections::HashSet<String>>> =
            BTreeMap::new();
        let mut counted = Vec::new();
        for (name, version, installs) in downloads {
            if !listed.contains_key(&name) {
                if listed.len() == MAX_PACKAGES_PER_NOTIFY_BATCH {
                    continue;
                }
                let versions = match PackageName::parse(&name) {
                    Ok(package) => match self.admit(mirror, &package).await {
                        Ok(()) => Some(self.stored_versions(mirror, &name).await?),
                        // The same reads as for a name it proxies, not counted: a
                        // private name must not answer sooner than an unknown one.
                        Err(MirrorError::Refused(Refusal::PrivatePackage { .. })) => {
                            self.stored_versions(mirror, &name).await?;
                            None
                        }
                        Err(MirrorError::Refused(_)) => None,
                        Err(error) => return Err(error),
                    },
                    Err(_) => None,
                };
                listed.insert(name.clone(), versions);
            }
            if listed[&name].as_ref().is_some_and(|v| v.contains(&version)) {
                counted.push((name, version, installs));
            }
        }
        self.db
            .record_mirror_downloads(&mirror.alias, &counted)
            .await?;
        Ok(())
    }

    /// The normalized versions the stored documents of `package` list.
    async fn stored_versions(
        &self,
        mirror: &MirrorConfig,
        package: &str,
    ) -> Result<std::collections::HashSet<String>, MirrorError> {
        Ok(self
            .stored_versions_with_fields(mirror, package)
            .await?
            .into_iter()
            .map(|(normalized, _)| normalized)
            .collect())
    }

    /// What may be proxied: only allowed names, in strict mode only approved ones, and
    /// never a name that is a private package here (a public package of the same name
    /// could otherwise be installed in its place). The private check comes last, so a
    /// private name is refused for the mirror's own reasons wherever any name would be.
    async fn admit(&self, mirror: &MirrorConfig, package: &PackageName) -> Result<(), MirrorError> {
        let refusal = |make: fn(String, String) -> Refusal| {
            Err(MirrorError::Refused(make(
                package.to_string(),
                mirror.alias.clone(),
            )))
        };
        if !mirror.allows(package.as_str()) {
            return refusal(|package, alias| Refusal::NotAvailable { package, alias });
        }
        if mirror.strict
            && !self
                .db
                .is_mirrored_package_approved(&mirror.alias, package.as_str())
                .await?
        {
            return refusal(|package, alias| Refusal::NotApproved { package, alias });
        }
        // A name this replica does not know may have just been created on another:
        // before anything can go upstream for it, the catalogue catches up (one stamp
        // read, shared by concurrent misses) — for private names too, which must take
        // as long. A name whose documents are held in memory skips that: serving them
        // asks the upstream nothing.
        let private = if self.documents.holds(mirror, package.as_str()) {
            self.metadata.exists(package.as_str())
        } else {
            self.metadata.exists_caught_up(package).await?
        };
        if private {
            return refusal(|package, alias| Refusal::PrivatePackage { package, alias });
        }
        Ok(())
    }

    /// Lets `packages` through the strict `mirror`; all names are checked before any
    /// is approved. Returns them as approved.
    pub async fn approve(
        &self,
        mirror: &MirrorConfig,
        packages: &[String],
    ) -> Result<Vec<PackageName>, ApproveError> {
        let names = packages
            .iter()
            .map(|name| PackageName::parse(name))
            .collect::<Result<Vec<_>, _>>()?;
        let packages: Vec<&str> = names.iter().map(PackageName::as_str).collect();
        self.db
            .approve_mirrored_packages(&mirror.alias, &packages)
            .await?;
        Ok(names)
    }

    /// Drops what `mirror` stored of `package`: both p2 documents, their gone-upstream
    /// markers and every archive. The next request asks the upstream afresh.
    pub async fn forget(
        &self,
        mirror: &MirrorConfig,
        package: &PackageName,
    ) -> Result<Forgotten, MirrorError> {
        let package = package.as_str();
        let mut forgotten = Forgotten::default();
        for dev in [false, true] {
            if self
                .documents
                .forget(mirror, &p2_path(package, dev))
                .await?
            {
                forgotten.documents += 1;
            }
        }
        self.advisories
            .forget(&mirror.alias, package)
            .await
            .map_err(DocumentError::from)?;
        forgotten.archives = self
            .dists
            .forget(&keys::mirror_dist_folder(&mirror.alias, package))
            .await?;
        // Stored documents and archives are not the database's: the act is recorded
        // once they are gone.
        let change = crate::db::audit::Change::new("mirror.forgotten", &mirror.alias)
            .package(package)
            .detail("documents", forgotten.documents)
            .detail("archives", forgotten.archives);
        self.db.record_audit(&change).await?;
        Ok(forgotten)
    }

    /// The packages of `mirror` whose stored documents the upstream no longer has.
    pub async fn gone_upstream(
        &self,
        mirror: &MirrorConfig,
    ) -> Result<Vec<GoneDocument>, DocumentError> {
        self.documents.gone_upstream(mirror).await
    }
}

/// What [`Mirrors::forget`] deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Forgotten {
    pub documents: usize,
    pub archives: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ApproveError {
    #[error(transparent)]
    InvalidName(#[from] NameError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl crate::error::Classify for ApproveError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            ApproveError::InvalidName(_) => ErrorKind::Invalid,
            ApproveError::Database(error) => error.kind(),
        }
    }
}

/// Why a mirrored document or archive cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error(transparent)]
    Refused(Refusal),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{package} has no version {version} with reference {reference}")]
    UnknownVersion {
        package: String,
        version: String,
        reference: String,
    },
    #[error(transparent)]
    Document(#[from] DocumentError),
    #[error(transparent)]
    Dist(#[from] DistError),
    /// A version a block list withdrew: its archive answers `410` with the reason.
    #[error("{}", .0.sentence())]
    Blocked(Box<crate::supply_chain::blocks::BlockNotice>),
}

/// What mirror clients are told when an upstream fails them: that it did, not which
/// URL (an upstream's or a dist URL, which may carry credentials) nor what it or the
/// connection said. The log has the details.
impl crate::error::Classify for MirrorError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            MirrorError::UnknownVersion { .. } | MirrorError::Refused(_) => ErrorKind::NotFound,
            MirrorError::Database(error) => error.kind(),
            MirrorError::Document(error) => error.kind(),
            MirrorError::Dist(error) => error.kind(),
            // Answered by the routes as `410` with the reason (`blocked_archive`).
            MirrorError::Blocked(_) => ErrorKind::Conflict,
        }
    }
}

impl From<storage::StorageError> for MirrorError {
    fn from(error: storage::StorageError) -> Self {
        MirrorError::Dist(DistError::Storage(error))
    }
}

/// The most packages of one notify-batch a mirror counts; the rest are ignored. Each
/// costs reads of its stored documents (object-store requests on S3, GCS, Azure), and
/// a public mirror takes batches from anyone; a project installs far fewer packages
/// from one repository.
pub const MAX_PACKAGES_PER_NOTIFY_BATCH: usize = 500;

/// The path of a package's p2 document in a mirror.
pub fn p2_path(package: &str, dev: bool) -> String {
    let suffix = if dev { "~dev" } else { "" };
    format!("p2/{package}{suffix}.json")
}

/// Composer md5-hashes versions that contain a `/` (branches only: normalized tags are
/// digits and dots) in dist-urls.
fn is_md5_hex(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// An upstream `packages.json` that is not a JSON object.
#[derive(Debug, thiserror::Error)]
#[error("the upstream packages.json is not a JSON object")]
pub struct UnusableRoot;

/// The `filter` lists an upstream root enables whose entries its p2 documents carry
/// (`metadata: true`), which is where a mirror reads and enforces them. Lists an
/// upstream serves only through its own `api-url` are not named: the mirror cannot
/// enforce them, and announcing them would promise what it does not do.
pub fn upstream_filter_lists(root: &Map<String, Value>) -> Vec<String> {
    let Some(Value::Object(filter)) = root.get("filter") else {
        return Vec::new();
    };
    if filter.get("metadata").and_then(Value::as_bool) != Some(true) {
        return Vec::new();
    }
    let Some(Value::Object(lists)) = filter.get("lists") else {
        return Vec::new();
    };
    lists
        .iter()
        .filter(|(_, config)| config.get("enabled").and_then(Value::as_bool) == Some(true))
        .map(|(name, _)| name.clone())
        .collect()
}

/// The root's `filter` announcement of the `upstream` lists and our own (`own_filter`,
/// as [`Metadata::filter_announcement`] gives it), or `None` when there is none: the
/// entries are in the p2 documents (`metadata: true`).
pub fn announced_filter(upstream: Vec<String>, own_filter: Option<Value>) -> Option<Value> {
    let mut lists: Map<String, Value> = upstream
        .into_iter()
        .map(|name| (name, json!({"enabled": true})))
        .collect();
    if let Some(Value::Object(ours)) = own_filter.and_then(|f| f.get("lists").cloned()) {
        lists.extend(ours);
    }
    (!lists.is_empty()).then(|| json!({"metadata": true, "lists": lists}))
}

/// The upstream root rewritten for our clients: metadata, archives, install counting
/// and the advisories API come from us; what we do not proxy (`providers-api`, `search`, `list`, the upstream's
/// `notify-batch`, v1 provider files) is removed.
pub fn rewrite_root(
    upstream_root: &[u8],
    mirror: &MirrorConfig,
    base: &str,
    available: Option<Vec<String>>,
    own_filter: Option<Value>,
) -> Result<Vec<u8>, UnusableRoot> {
    let Ok(Value::Object(mut root)) = serde_json::from_slice::<Value>(upstream_root) else {
        return Err(UnusableRoot);
    };
    for unproxied in [
        "providers-api",
        "search",
        "list",
        "notify-batch",
        "notify",
        "providers-url",
        "provider-includes",
        "providers",
        "providers-lazy-url",
        "metadata-changes-url",
        "mirrors",
        "includes",
    ] {
        root.remove(unproxied);
    }
    let prefix = format!("{base}/mirror/{}", mirror.alias);
    // The upstream's advisories come through us, with the same access rules; p2
    // documents (which may carry advisories when `metadata` is true) are served as
    // the upstream sent them.
    // Without an `api-url` Composer insists on `available-packages`, which a mirror
    // cannot list: such upstreams' advisories are not announced.
    if let Some(Value::Object(upstream)) = root.remove("security-advisories")
        && upstream.get("api-url").is_some_and(Value::is_string)
    {
        let metadata = upstream
            .get("metadata")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        root.insert(
            "security-advisories".into(),
            json!({"metadata": metadata, "api-url": format!("{prefix}/api/security-advisories/")}),
        );
    }
    // The upstream's filter lists come through in its p2 documents, where this mirror
    // applies them (`supply_chain::mirrored`); its summary and API URLs would send
    // Composer around the mirror, so only the lists are announced, with ours.
    let upstream_lists = upstream_filter_lists(&root);
    root.remove("filter");
    if let Some(filter) = announced_filter(upstream_lists, own_filter) {
        root.insert("filter".into(), filter);
    }
    root.insert("packages".into(), json!([]));
    root.insert("notify-batch".into(), json!(format!("{prefix}/downloads/")));
    root.insert(
        "metadata-url".into(),
        json!(format!("{prefix}/p2/%package%.json")),
    );
    if mirror.enable_dist_mirror {
        root.insert(
            "mirrors".into(),
            json!([{"dist-url": crate::metadata::archive_pattern(&prefix), "preferred": true}]),
        );
    }
    if let Some(names) = available {
        root.insert("available-packages".into(), json!(names));
        root.remove("available-package-patterns");
    } else if !mirror.available_packages.is_empty() || !mirror.available_package_patterns.is_empty()
    {
        root.insert(
            "available-packages".into(),
            json!(mirror.available_packages),
        );
        root.insert(
            "available-package-patterns".into(),
            json!(mirror.available_package_patterns),
        );
    }
    Ok(serde_json::to_vec(&Value::Object(root)).expect("JSON serializes"))
}

/// The archive one version of a mirrored package names: its key in the mirror-dist
/// store, its expected sha1 and what is needed to download it.
#[derive(Debug, Clone)]
pub struct LocatedDist {
    pub key: String,
    pub shasum: String,
    dist_url: Option<String>,
    package: String,
    normalized: String,
    pretty: String,
    reference: String,
    kind: String,
}

impl LocatedDist {
    /// Where to download it: the version's `dist.url`, then the upstream's own
    /// `mirrors` dist-urls.
    pub fn source(self, mirror: &MirrorConfig, upstream_root: Option<&[u8]>) -> DistSource {
        let mut urls: Vec<String> = self.dist_url.into_iter().collect();
        urls.extend(upstream_mirror_urls(
            mirror,
            upstream_root,
            &self.package,
            &self.normalized,
            &self.pretty,
            &self.reference,
            &self.kind,
        ));
        DistSource {
            key: self.key,
            urls,
            shasum: self.shasum,
            identity: DistIdentity {
                alias: mirror.alias.clone(),
                package: self.package,
                reference: self.reference,
                version: self.pretty,
            },
        }
    }
}

/// Finds the version of `package` in `doc` whose dist the client asks for. Clients
/// md5-hash references that are not hex and versions that contain `/`, so both
/// spellings are accepted.
pub fn locate_dist(
    mirror: &MirrorConfig,
    package: &str,
    version: &str,
    reference: &str,
    kind: &str,
    doc: &MirroredDoc,
) -> Option<LocatedDist> {
    let matches = |candidate: &Map<String, Value>| {
        let dist_ref = candidate
            .get("dist")
            .and_then(|d| d.get("reference"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let pretty = candidate
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let normalized = candidate
            .get("version_normalized")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let reference_matches = dist_ref == reference || md5_hex(dist_ref) == reference;
        let version_matches = [pretty, normalized]
            .iter()
            .any(|v| *v == version || md5_hex(v) == version);
        reference_matches && version_matches
    };
    let found = versions_of(doc, package).into_iter().find(|v| matches(v))?;
    let dist = found.get("dist")?;
    // One archive, one key: a client cannot have it stored again under other types.
    if dist
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t != kind)
    {
        return None;
    }
    let text = |value: Option<&Value>, default: &str| {
        value.and_then(Value::as_str).unwrap_or(default).to_owned()
    };
    let dist_reference = text(dist.get("reference"), reference);
    let normalized = text(found.get("version_normalized"), version);
    Some(LocatedDist {
        key: keys::mirror_dist(&mirror.alias, package, &normalized, &dist_reference, kind),
        shasum: text(dist.get("shasum"), ""),
        dist_url: dist.get("url").and_then(Value::as_str).map(str::to_owned),
        pretty: text(found.get("version"), version),
        package: package.to_owned(),
        normalized,
        reference: dist_reference,
        kind: kind.to_owned(),
    })
}

/// The versions in a p2 document, expanded when minified.
fn versions_of(doc: &MirroredDoc, package: &str) -> Vec<Map<String, Value>> {
    match serde_json::from_slice::<Value>(&doc.body) {
        Ok(Value::Object(document)) => composer::p2::versions_in(&document, package).0,
        _ => Vec::new(),
    }
}

/// The upstream's own `mirrors` dist-urls, tried after the version's `dist.url`.
fn upstream_mirror_urls(
    mirror: &MirrorConfig,
    upstream_root: Option<&[u8]>,
    package: &str,
    version: &str,
    pretty_version: &str,
    reference: &str,
    kind: &str,
) -> Vec<String> {
    let Some(root) = upstream_root.and_then(|r| serde_json::from_slice::<Value>(r).ok()) else {
        return Vec::new();
    };
    root["mirrors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["dist-url"].as_str())
        .map(|template| {
            let url =
                composer_mirror_url(template, package, version, pretty_version, reference, kind);
            if url.starts_with('/') {
                format!("{}{url}", mirror.url)
            } else {
                url
            }
        })
        .collect()
}

/// `pattern` (a `mirrors` dist-url: `…/%package%/%version%/%reference%.%type%`) filled
/// in as Composer's `ComposerMirror::processUrl` does: a reference that is not
/// lower-case hex and a version with `/` md5-hashed.
pub fn composer_mirror_url(
    pattern: &str,
    package: &str,
    normalized: &str,
    pretty_version: &str,
    reference: &str,
    kind: &str,
) -> String {
    let reference = if reference
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        reference.to_owned()
    } else {
        md5_hex(reference)
    };
    let version = if normalized.contains('/') {
        md5_hex(normalized)
    } else {
        normalized.to_owned()
    };
    pattern
        .replace("%package%", package)
        .replace("%version%", &version)
        .replace("%prettyVersion%", pretty_version)
        .replace("%reference%", &reference)
        .replace("%type%", kind)
}

fn md5_hex(text: &str) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mirror() -> MirrorConfig {
        config::resolve(&BTreeMap::new()).unwrap().remove(0)
    }

    #[test]
    fn the_root_points_at_us_and_drops_what_we_do_not_proxy() {
        let upstream = br#"{"packages":[],"metadata-url":"/p2/%package%.json","notify-batch":"https://packagist.org/downloads/","search":"/search.json?q=%query%","providers-api":"/providers/%package%.json","list":"/list.json","mirrors":[{"dist-url":"https://mirror.example/%package%","preferred":true}]}"#;
        let rewritten: Value = serde_json::from_slice(
            &rewrite_root(upstream, &mirror(), "http://h", None, None).unwrap(),
        )
        .unwrap();
        assert_eq!(
            rewritten["metadata-url"],
            "http://h/mirror/packagist/p2/%package%.json"
        );
        assert_eq!(
            rewritten["mirrors"],
            json!([{"dist-url": "http://h/mirror/packagist/zipball/%package%/%version%/%reference%.%type%", "preferred": true}])
        );
        assert_eq!(
            rewritten["notify-batch"],
            "http://h/mirror/packagist/downloads/"
        );
        for removed in ["search", "providers-api", "list", "security-advisories"] {
            assert!(rewritten.get(removed).is_none(), "{removed}");
        }
        // The upstream's advisories API is announced as ours.
        let with_advisories = br#"{"metadata-url":"/p2/%package%.json","security-advisories":{"metadata":true,"api-url":"https://packagist.org/api/security-advisories/"}}"#;
        let rewritten: Value = serde_json::from_slice(
            &rewrite_root(with_advisories, &mirror(), "http://h", None, None).unwrap(),
        )
        .unwrap();
        assert_eq!(
            rewritten["security-advisories"],
            json!({"metadata": true, "api-url": "http://h/mirror/packagist/api/security-advisories/"})
        );
        let without_api = br#"{"security-advisories":{"metadata":true}}"#;
        let rewritten: Value = serde_json::from_slice(
            &rewrite_root(without_api, &mirror(), "http://h", None, None).unwrap(),
        )
        .unwrap();
        assert!(rewritten.get("security-advisories").is_none());
        let restricted = rewrite_root(
            upstream,
            &mirror(),
            "http://h",
            Some(vec!["psr/log".into()]),
            None,
        )
        .unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&restricted).unwrap()["available-packages"],
            json!(["psr/log"])
        );
        assert!(rewrite_root(b"[1]", &mirror(), "http://h", None, None).is_err());
        // The upstream's lists are announced, its URLs are not; ours join them.
        let with_filter = br#"{"metadata-url":"/p2/%package%.json","filter":{"metadata":true,"lists":{"malware":{"enabled":true},"old":{"enabled":false}},"api-url":"https://packagist.org/api/filter"}}"#;
        let ours = json!({"metadata": true, "lists": {"policy": {"enabled": true}}});
        let rewritten: Value = serde_json::from_slice(
            &rewrite_root(with_filter, &mirror(), "http://h", None, Some(ours)).unwrap(),
        )
        .unwrap();
        assert_eq!(
            rewritten["filter"],
            json!({"metadata": true, "lists": {"malware": {"enabled": true}, "policy": {"enabled": true}}})
        );
        // Lists served only through the upstream's API are not in its documents, where
        // the mirror enforces lists: they are not announced.
        let api_only = br#"{"metadata-url":"/p2/%package%.json","filter":{"metadata":false,"lists":{"malware":{"enabled":true}},"api-url":"https://up.example/api/filter"}}"#;
        let rewritten: Value = serde_json::from_slice(
            &rewrite_root(api_only, &mirror(), "http://h", None, None).unwrap(),
        )
        .unwrap();
        assert!(rewritten.get("filter").is_none(), "{rewritten}");
    }

    #[test]
    fn dists_are_found_by_reference_and_version_hashed_or_not() {
        let doc = MirroredDoc {
            body: bytes::Bytes::from(
                json!({"minified": "composer/2.0", "packages": {"psr/log": [
                    {"name": "psr/log", "version": "3.0.0", "version_normalized": "3.0.0.0",
                     "dist": {"type": "zip", "url": "https://codeload.example/psr/log/abc", "reference": "abc", "shasum": "s1"}},
                    {"version": "2.0.0", "version_normalized": "2.0.0.0",
                     "dist": {"type": "zip", "url": "https://codeload.example/psr/log/def", "reference": "def", "shasum": ""}}
                ]}})
                .to_string(),
            ),
            upstream_last_modified: None,
            fetched_at: 0,
            gone_upstream_at: None,
            checked_at: std::time::Instant::now(),
        };
        let root = br#"{"mirrors":[{"dist-url":"/dists/%package%/%reference%.%type%"}]}"#;
        let found = locate_dist(&mirror(), "psr/log", "2.0.0.0", "def", "zip", &doc).unwrap();
        assert!(
            found.key.contains("/packagist/psr/log/2.0.0.0-"),
            "{}",
            found.key
        );
        let source = found.source(&mirror(), Some(root));
        assert_eq!(
            source.urls,
            [
                "https://codeload.example/psr/log/def",
                "https://repo.packagist.org/dists/psr/log/def.zip"
            ]
        );
        assert_eq!(source.shasum, "");
        let hashed = locate_dist(
            &mirror(),
            "psr/log",
            &md5_hex("3.0.0"),
            &md5_hex("abc"),
            "zip",
            &doc,
        )
        .unwrap();
        assert_eq!(hashed.shasum, "s1");
        assert!(locate_dist(&mirror(), "psr/log", "3.0.0.0", "zzz", "zip", &doc).is_none());
        assert!(
            locate_dist(&mirror(), "psr/log", "3.0.0.0", "abc", "tar", &doc).is_none(),
            "the type is the dist's"
        );
    }

    #[test]
    fn archive_requests_name_the_document_their_version_lives_in() {
        assert_eq!(p2_path("a/b", false), "p2/a/b.json");
        assert_eq!(p2_path("a/b", true), "p2/a/b~dev.json");
        assert!(is_md5_hex(&md5_hex("dev-feature/x")));
        assert!(!is_md5_hex("1.0.0.0"));
        assert!(!is_md5_hex("dev-main"));
    }
}
