//! Composer metadata, rendered once and served from memory.
//!
//! The p2 documents of a package are rendered on first request and kept until the
//! package changes. Changes made by this process invalidate at once; changes made by
//! other replicas are noticed by [`Metadata::refresh`], which compares each package's
//! change stamp with the database every few seconds, and before any answer that a
//! package or an archive is unknown, which reads the catalogue's change counter once
//! more (`freshness`): a package or version another replica just published is never
//! "unknown" here. Serving a cached document touches no database.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use composer::package_name::PackageName;
use serde_json::{Map, Value, json};

use crate::access::View;
use crate::db::{Db, PackageStamp, VersionRecord};
use crate::freshness::Recheck;
use crate::supply_chain::SupplyChainSettings;
use crate::supply_chain::blocks::{BlockNotice, BlockRules, root_filter};
use crate::supply_chain::plugins::{self, PluginPolicy};
use crate::supply_chain::release_age::{self, Release};

/// Distinct base URLs remembered per package: bounded because, without
/// `PACKYARD_PUBLIC_URL`, the base comes from the client's Host header.
const MAX_BASES: usize = 8;
/// Documents filtered for callers who do not see everything, per (base, view): bounded
/// because every distinct set of groups has its own view.
const MAX_FILTERED: usize = 4096;

/// A rendered JSON document and the time it last changed.
#[derive(Debug, Clone)]
pub struct Document {
    pub body: Bytes,
    pub last_modified: SystemTime,
}

impl Document {
    /// The same document dated no earlier than `stamp_millis` (rounded up to the
    /// second): what a caller sees also changes with the access rules, and a client must
    /// not keep a narrower view through `If-Modified-Since`.
    pub fn no_older_than(&self, stamp_millis: i64) -> Document {
        let seconds = u64::try_from(stamp_millis.max(0))
            .unwrap_or(0)
            .div_ceil(1000);
        Document {
            body: self.body.clone(),
            last_modified: self
                .last_modified
                .max(UNIX_EPOCH + Duration::from_secs(seconds)),
        }
    }

    fn new(body: Vec<u8>, stamp_millis: i64) -> Self {
        Document {
            body: Bytes::from(body),
            last_modified: stamp_to_time(stamp_millis),
        }
    }
}

/// How often a replica reads every package's stamp rather than only the changed ones:
/// the bound on how long it could miss a removal that an addition hid from the count.
pub const WHOLE_READ_EVERY: Duration = Duration::from_secs(300);

/// Where the archive of one version is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistLocation {
    pub store: String,
    pub key: String,
    pub version_normalized: String,
    /// The sha1 published for it; empty for a git dist not built yet.
    pub shasum: String,
    /// Why the version is blocked, when it is: the archive is then answered `410`.
    pub blocked: Option<Arc<BlockNotice>>,
}

impl DistLocation {
    pub fn of(version: &VersionRecord) -> Self {
        DistLocation {
            store: version.dist_store.as_str().to_owned(),
            key: version.dist_key.clone(),
            version_normalized: version.version_normalized.clone(),
            shasum: version.shasum.clone(),
            blocked: None,
        }
    }
}

/// A package's documents for one base URL (and one view): the p2 pair, rendered
/// together, and Composer 1's, rendered from the same versions the first time it is
/// asked for (few clients still use Composer 1).
struct Rendered {
    tagged: Document,
    dev: Document,
    v1: OnceLock<Document>,
}

type DocumentPair = Arc<Rendered>;

struct PackageEntry {
    stamp: i64,
    /// The versions served: all of them but those a block withdraws.
    versions: Vec<VersionRecord>,
    /// The versions a block withdraws from the metadata: their archives are answered
    /// `410`, and the `filter` entries name them to callers who would see them.
    withdrawn: Vec<VersionRecord>,
    blocks: BlockRules,
    dists: HashMap<String, DistLocation>,
    /// The versions (normalized) that fix a published advisory of the package, which
    /// cooldowns do not hold back.
    exempt: HashSet<String>,
    /// Archives kept by reference past their versions (a deleted tag of a frozen
    /// version, a replaced upload), with their release time, for lock files that
    /// name them.
    retained: HashMap<String, (DistLocation, i64)>,
    /// Rendered `(tagged, dev)` documents per base URL. Read on every request, from
    /// every thread: a read lock, so that threads serving the same package never wait
    /// for each other.
    rendered: RwLock<HashMap<String, DocumentPair>>,
    /// The same, filtered for a view, per base URL and view key; `None` when the view
    /// sees no version at all.
    filtered: RwLock<HashMap<String, HashMap<u64, Option<DocumentPair>>>>,
}

#[derive(Default)]
struct State {
    /// The catalogue's change counter (`Db::catalogue_version`) read before `stamps`:
    /// when the database's has moved past it, `stamps` may be behind.
    catalogue: i64,
    /// Every package name with its change stamp.
    stamps: Arc<BTreeMap<String, i64>>,
    /// The newest stamp in `stamps`: changes are the packages stamped past it.
    newest: i64,
    /// When every stamp was last read, not just the changed ones.
    read_whole_at: Option<Instant>,
    packages: HashMap<String, Arc<PackageEntry>>,
    roots: HashMap<String, Arc<Document>>,
    /// Roots listing only what a view sees, per base URL and view key.
    filtered_roots: HashMap<(String, u64), Arc<Document>>,
}

pub struct Metadata {
    db: Db,
    state: RwLock<State>,
    catalogue_recheck: Recheck,
    /// Whether versions that fix a published advisory pass cooldowns, and whether
    /// plugins need approval.
    supply_chain: SupplyChainSettings,
}

/// How long a document filtered by a cooldown is served before it is rendered again:
/// what it shows changes as versions come of age, not only with the rules.
const COOLDOWN_RENDER_EVERY_MS: i64 = 60_000;

impl Metadata {
    pub async fn load(db: Db) -> Result<Self, sqlx::Error> {
        let metadata = Metadata {
            db,
            state: RwLock::new(State::default()),
            catalogue_recheck: Recheck::default(),
            supply_chain: SupplyChainSettings::default(),
        };
        metadata.refresh().await?;
        Ok(metadata)
    }

    /// Under these supply-chain settings (the defaults until set).
    #[must_use]
    pub fn with_supply_chain(self, supply_chain: SupplyChainSettings) -> Self {
        Metadata {
            supply_chain,
            ..self
        }
    }

    /// Catches up with the database: nothing more than the change counter when it has
    /// not moved; the packages stamped since the newest stamp known (and a count) when
    /// it has, so that the work follows what changed, not the catalogue's size; every
    /// stamp when packages were also removed (the count says so) and every
    /// [`WHOLE_READ_EVERY`] in any case. Drops what was rendered from older stamps.
    pub async fn refresh(&self) -> Result<(), sqlx::Error> {
        // The counter first: stamps read after it are at least as new as it says.
        let catalogue = self.db.catalogue_version().await?;
        let (known, newest, read_whole_at) = {
            let state = self.state.read().unwrap();
            (state.catalogue, state.newest, state.read_whole_at)
        };
        let whole_read_due = read_whole_at.is_none_or(|at| at.elapsed() >= WHOLE_READ_EVERY);
        if !whole_read_due {
            if catalogue == known {
                return Ok(());
            }
            let changed = self.db.package_stamps_since(newest).await?;
            let count = self.db.package_count().await?;
            if self.apply_changes(catalogue, changed, count) {
                return Ok(());
            }
        }
        let stamps = self.db.package_stamps().await?;
        self.apply_stamps(catalogue, stamps);
        Ok(())
    }

    /// Applies the packages stamped since the last look; `false` when they do not
    /// account for `count` packages (some were removed, or added without a stamp past
    /// the newest), and every stamp must be read.
    fn apply_changes(&self, catalogue: i64, changed: Vec<PackageStamp>, count: i64) -> bool {
        let mut state = self.state.write().unwrap();
        if catalogue < state.catalogue {
            // A refresh that read later has been applied: these are older.
            return true;
        }
        let added = changed
            .iter()
            .filter(|s| !state.stamps.contains_key(&s.name))
            .count();
        if i64::try_from(state.stamps.len() + added).ok() != Some(count) {
            return false;
        }
        state.catalogue = catalogue;
        let changed: Vec<PackageStamp> = changed
            .into_iter()
            .filter(|s| state.stamps.get(&s.name) != Some(&s.updated_at))
            .collect();
        if changed.is_empty() {
            return true;
        }
        // A new map rather than this one changed: lists built from the old one compare
        // by identity (`Catalogues`).
        let mut stamps = (*state.stamps).clone();
        for stamp in changed {
            state.packages.remove(&stamp.name);
            state.newest = state.newest.max(stamp.updated_at);
            stamps.insert(stamp.name, stamp.updated_at);
        }
        state.stamps = Arc::new(stamps);
        state.roots.clear();
        state.filtered_roots.clear();
        true
    }

    /// The catalogue counter this replica's cache is at: taken before a lookup, it is
    /// what [`Self::catch_up`] compares with if the lookup misses.
    fn catalogue(&self) -> i64 {
        self.state.read().unwrap().catalogue
    }

    /// Before saying a package or an archive is unknown, from a lookup made at
    /// catalogue counter `seen`: reads the database's counter once more (in a check
    /// that starts now, shared with the misses around it, see `freshness`) and catches
    /// up when it moved. Whether it did, so that the caller looks again. Compared with
    /// `seen`, not with the cache as it is now: the periodic refresh may have caught up
    /// between the lookup and this check, and the lookup still be from before.
    async fn catch_up(&self, seen: i64) -> Result<bool, sqlx::Error> {
        let catalogue = self
            .catalogue_recheck
            .stamp(Instant::now(), || self.db.catalogue_version())
            .await?;
        if catalogue == seen {
            return Ok(false);
        }
        if self.catalogue() < catalogue {
            self.refresh().await?;
        }
        Ok(true)
    }

    fn apply_stamps(&self, catalogue: i64, stamps: Vec<PackageStamp>) {
        let stamps: BTreeMap<String, i64> =
            stamps.into_iter().map(|s| (s.name, s.updated_at)).collect();
        let mut state = self.state.write().unwrap();
        if catalogue < state.catalogue {
            // A refresh that read later has been applied: these stamps are older.
            return;
        }
        state.catalogue = catalogue;
        state.read_whole_at = Some(Instant::now());
        state.newest = stamps.values().copied().max().unwrap_or(0);
        if *state.stamps == stamps {
            return;
        }
        state
            .packages
            .retain(|name, entry| stamps.get(name) == Some(&entry.stamp));
        state.roots.clear();
        state.filtered_roots.clear();
        state.stamps = Arc::new(stamps);
    }

    /// Keeps the cache in step with other replicas; runs until the process ends.
    pub fn spawn_refresher(self: &Arc<Self>, every: Duration) {
        let metadata = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(metadata) = metadata.upgrade() else {
                    return;
                };
                if let Err(error) = metadata.refresh().await {
                    tracing::warn!(%error, "refreshing package change stamps failed");
                }
            }
        });
    }

    /// Whether `package` exists, as this replica's cache knows it (see [`Self::knows`]).
    pub fn exists(&self, package: &str) -> bool {
        self.state.read().unwrap().stamps.contains_key(package)
    }

    /// Whether `package` exists, catching up with other replicas before saying no.
    pub async fn knows(&self, package: &PackageName) -> Result<bool, sqlx::Error> {
        self.knows_name(package.as_str()).await
    }

    async fn knows_name(&self, package: &str) -> Result<bool, sqlx::Error> {
        let seen = self.catalogue();
        Ok(self.exists(package) || (self.catch_up(seen).await? && self.exists(package)))
    }

    /// Whether `package` exists, by a catalogue that caught up with other replicas
    /// first: one stamp read (shared by concurrent callers) whatever the answer, so that
    /// a name that exists takes as long as one that does not.
    pub async fn exists_caught_up(&self, package: &PackageName) -> Result<bool, sqlx::Error> {
        self.catch_up(self.catalogue()).await?;
        Ok(self.exists(package.as_str()))
    }

    /// Whether `package` exists and `view` sees at least one of its versions.
    pub async fn visible(&self, package: &PackageName, view: &View) -> Result<bool, sqlx::Error> {
        self.visible_name(package.as_str(), view).await
    }

    async fn visible_name(&self, package: &str, view: &View) -> Result<bool, sqlx::Error> {
        if !view.sees_package(package) || !self.exists(package) {
            return Ok(false);
        }
        if view.sees_all_versions_of(package) {
            return Ok(true);
        }
        let Some(entry) = self.entry(package).await? else {
            return Ok(false);
        };
        // A package whose versions this caller would see are all withdrawn is still
        // there for it: its documents carry the `filter` entries that say why.
        Ok(entry.visible(package, view).next().is_some()
            || entry.visible_withdrawn(package, view).next().is_some())
    }

    /// The root of a repository that includes mirrors: without `available-packages`
    /// (Composer would ask for nothing else, and no list can name what upstreams
    /// hold), and with one archive URL for private and mirrored packages alike
    /// (`/zipball/{package}/{version}/{reference}.{type}`), so that Composer's first
    /// try is the right one for both. It lists no names, so it is the same for every
    /// caller: dated by the access rules it was answered under.
    pub fn combined_root(base: &str, stamp: i64, filter: Option<Value>) -> Document {
        let mut body = root_body(base, None);
        if let Some(filter) = filter {
            body["filter"] = filter;
        }
        Document::new(body.to_string().into_bytes(), stamp)
    }

    /// The root `packages.json` for clients that reach us at `base`, listing in
    /// `available-packages` exactly the packages of which `view` sees a version.
    pub async fn root(&self, base: &str, view: &View) -> Result<Arc<Document>, sqlx::Error> {
        if view.sees_everything() {
            if let Some(document) = self.state.read().unwrap().roots.get(base) {
                return Ok(document.clone());
            }
        } else if let Some(document) = self
            .state
            .read()
            .unwrap()
            .filtered_roots
            .get(&(base.to_owned(), view.key()))
        {
            return Ok(document.clone());
        }
        let stamps = self.stamps();
        let visible = self.visible_packages(&stamps, view).await?;
        // What a view sees also changes with the rules, not only with the packages.
        let rules_stamp = if view.sees_everything() {
            0
        } else {
            view.stamp()
        };
        let newest = visible
            .iter()
            .map(|(_, stamp)| *stamp)
            .max()
            .unwrap_or(0)
            .max(rules_stamp);
        let names: Vec<&String> = visible.iter().map(|(name, _)| *name).collect();
        let mut body = root_body(base, Some(&names));
        if let Some(filter) = self.filter_announcement().await? {
            body["filter"] = filter;
        }
        let document = Arc::new(Document::new(body.to_string().into_bytes(), newest));
        let mut state = self.state.write().unwrap();
        if *state.stamps != *stamps {
            // The packages changed meanwhile: serve this one, cache nothing.
            return Ok(document);
        }
        if view.sees_everything() {
            if state.roots.len() >= MAX_BASES {
                state.roots.clear();
            }
            state.roots.insert(base.to_owned(), document.clone());
        } else {
            if state.filtered_roots.len() >= MAX_FILTERED {
                state.filtered_roots.clear();
            }
            state
                .filtered_roots
                .insert((base.to_owned(), view.key()), document.clone());
        }
        Ok(document)
    }

    /// Every package name with its change stamp: a snapshot that later changes replace
    /// rather than modify.
    pub fn stamps(&self) -> Arc<BTreeMap<String, i64>> {
        self.state.read().unwrap().stamps.clone()
    }

    /// [`Self::stamps`] once caught up with the changes other replicas committed (one
    /// read of the change counter, shared by concurrent callers): for answers that list
    /// what changed, where a change committed before the client asked must be listed.
    pub async fn stamps_caught_up(&self) -> Result<Arc<BTreeMap<String, i64>>, sqlx::Error> {
        self.catch_up(self.catalogue()).await?;
        Ok(self.stamps())
    }

    /// The packages of `stamps` of which `view` sees a version, in name order.
    pub async fn visible_packages<'a>(
        &self,
        stamps: &'a BTreeMap<String, i64>,
        view: &View,
    ) -> Result<Vec<(&'a String, i64)>, sqlx::Error> {
        let mut visible = Vec::new();
        for (name, stamp) in stamps {
            if self.visible_name(name, view).await? {
                visible.push((name, *stamp));
            }
        }
        Ok(visible)
    }

    /// The versions of `package` that `view` sees, as stored (newest release first is
    /// not guaranteed); `None` for a package that is unknown or that it does not see.
    pub async fn visible_versions(
        &self,
        package: &PackageName,
        view: &View,
    ) -> Result<Option<Vec<VersionRecord>>, sqlx::Error> {
        let package = package.as_str();
        let Some(entry) = self.visible_entry(package, view).await? else {
            return Ok(None);
        };
        let versions: Vec<VersionRecord> = entry.visible(package, view).cloned().collect();
        Ok((!versions.is_empty()).then_some(versions))
    }

    /// `read` applied to the most recently released version of `package` that `view`
    /// sees; `None` when it sees none. A closure rather than a copy: lists call this
    /// for every package.
    pub async fn with_newest_visible<R>(
        &self,
        package: &str,
        view: &View,
        read: impl FnOnce(&VersionRecord) -> R,
    ) -> Result<Option<R>, sqlx::Error> {
        let Some(entry) = self.visible_entry(package, view).await? else {
            return Ok(None);
        };
        Ok(entry
            .visible(package, view)
            .max_by_key(|v| v.released_at)
            .map(read))
    }

    /// The p2 document of `package` (`dev` selects `~dev.json`) with the versions
    /// `view` sees, or `None` for a package that is unknown or that it does not see.
    pub async fn p2(
        &self,
        package: &PackageName,
        dev: bool,
        base: &str,
        view: &View,
    ) -> Result<Option<Document>, sqlx::Error> {
        let Some((_, rendered)) = self.rendered(package.as_str(), base, view).await? else {
            return Ok(None);
        };
        Ok(Some(if dev {
            rendered.dev.clone()
        } else {
            rendered.tagged.clone()
        }))
    }

    /// Composer 1's document of `package` (`/p/{package}.json`): the versions of its two
    /// p2 documents that `view` sees, together and whole, dated as they are; `None` as
    /// for [`Self::p2`].
    pub async fn v1(
        &self,
        package: &PackageName,
        base: &str,
        view: &View,
    ) -> Result<Option<Document>, sqlx::Error> {
        let package = package.as_str();
        let Some((entry, rendered)) = self.rendered(package, base, view).await? else {
            return Ok(None);
        };
        let document = rendered.v1.get_or_init(|| {
            let versions: Vec<&VersionRecord> = if view.sees_all_versions_of(package) {
                entry.versions.iter().collect()
            } else {
                entry.visible(package, view).collect()
            };
            let versions = versions
                .into_iter()
                .map(|v| version_document(package, v, base))
                .collect();
            Document {
                body: Bytes::from(composer::p2::render_v1(package, versions)),
                last_modified: rendered.tagged.last_modified,
            }
        });
        Ok(Some(document.clone()))
    }

    /// The cached entry of `package` and its documents for `base` as `view` sees them,
    /// or `None` for a package that is unknown or of which it sees no version.
    async fn rendered(
        &self,
        package: &str,
        base: &str,
        view: &View,
    ) -> Result<Option<(Arc<PackageEntry>, DocumentPair)>, sqlx::Error> {
        let Some(entry) = self.visible_entry(package, view).await? else {
            return Ok(None);
        };
        // Every version left out as an unapproved plugin: as if there were none.
        if entry.versions.is_empty() && entry.withdrawn.is_empty() {
            return Ok(None);
        }
        let rendered = if view.sees_all_versions_of(package) {
            entry.render(package, base)
        } else {
            match entry.render_for(package, base, view) {
                Some(rendered) => rendered,
                None => return Ok(None),
            }
        };
        Ok(Some((entry, rendered)))
    }

    /// Where the archive with `reference` of `package` is stored, when a version with
    /// that reference is one `view` sees.
    pub async fn dist(
        &self,
        package: &PackageName,
        reference: &str,
        view: &View,
    ) -> Result<Option<DistLocation>, sqlx::Error> {
        let package = package.as_str();
        let seen = self.catalogue();
        let found = self.cached_dist(package, reference, view).await?;
        if found.is_some() || !view.sees_package(package) {
            return Ok(found);
        }
        // A version another replica just published may be behind this one's cache.
        if self.catch_up(seen).await? {
            return self.cached_dist(package, reference, view).await;
        }
        Ok(None)
    }

    async fn cached_dist(
        &self,
        package: &str,
        reference: &str,
        view: &View,
    ) -> Result<Option<DistLocation>, sqlx::Error> {
        let Some(entry) = self.visible_entry(package, view).await? else {
            return Ok(None);
        };
        let visible = view.sees_all_versions_of(package)
            || entry
                .visible(package, view)
                .chain(entry.visible_withdrawn(package, view))
                .any(|v| v.reference == reference);
        if visible && let Some(location) = entry.dists.get(reference) {
            return Ok(Some(location.clone()));
        }
        // An archive kept past its version, for the lock files that name it: seen by
        // whoever would see that version.
        Ok(entry
            .retained
            .get(reference)
            .filter(|(location, released_at)| {
                view.sees_all_versions_of(package)
                    || view.sees_version(package, &location.version_normalized, *released_at)
            })
            .map(|(location, _)| location.clone()))
    }

    /// The cached entry of `package` when it exists and `view` may see the package at
    /// all (which versions it sees is [`PackageEntry::visible`]).
    async fn visible_entry(
        &self,
        package: &str,
        view: &View,
    ) -> Result<Option<Arc<PackageEntry>>, sqlx::Error> {
        if !view.sees_package(package) {
            return Ok(None);
        }
        self.entry(package).await
    }

    /// The versions of `package` among `versions` that fix one of its published
    /// advisories (affected: an earlier version; not affected: this one).
    async fn fixes(
        &self,
        package: &str,
        versions: &[VersionRecord],
    ) -> Result<HashSet<String>, sqlx::Error> {
        let advisories = self.db.advisories(Some(&[package.to_owned()])).await?;
        let affected: Vec<composer::constraint::Constraint> = advisories
            .iter()
            .filter_map(|a| composer::constraint::Constraint::parse(&a.affected_versions).ok())
            .collect();
        if affected.is_empty() {
            return Ok(HashSet::new());
        }
        let all: Vec<&str> = versions
            .iter()
            .map(|v| v.version_normalized.as_str())
            .collect();
        Ok(versions
            .iter()
            .filter(|v| {
                let earlier: Vec<&str> = all
                    .iter()
                    .copied()
                    .filter(|other| {
                        composer::constraint::php_version_compare(other, &v.version_normalized)
                            .is_lt()
                    })
                    .collect();
                release_age::fixes_advisory(&v.version_normalized, &affected, &earlier)
            })
            .map(|v| v.version_normalized.clone())
            .collect())
    }

    /// Under `plugins: approve`, drops the versions of plugins whose major version no
    /// admin approved: they are served as if they did not exist.
    async fn keep_approved_plugins(
        &self,
        package: &str,
        versions: &mut Vec<VersionRecord>,
    ) -> Result<(), sqlx::Error> {
        let policy = self.supply_chain.plugins;
        if policy == PluginPolicy::Allow {
            return Ok(());
        }
        let fields = |v: &VersionRecord| -> Map<String, Value> {
            serde_json::from_str(&v.metadata).unwrap_or_default()
        };
        if !versions.iter().any(|v| plugins::is_plugin(&fields(v))) {
            return Ok(());
        }
        let approved = self.db.approved_majors(plugins::PRIVATE, package).await?;
        versions
            .retain(|v| plugins::admitted(policy, &v.version_normalized, &fields(v), &approved));
        Ok(())
    }

    /// The blocks of `package`, with their categories' treatment.
    async fn block_rules(&self, package: &str) -> Result<BlockRules, sqlx::Error> {
        let rows = self.db.blocks(Some(package)).await?;
        if rows.is_empty() {
            return Ok(BlockRules::default());
        }
        let categories = self.db.block_categories().await?;
        Ok(BlockRules::new(rows, &categories))
    }

    /// After this process changed the blocks of `package`: its documents and the roots
    /// (which announce the block categories as `filter` lists) are rendered again.
    pub async fn blocks_changed(&self, package: &PackageName) -> Result<(), sqlx::Error> {
        self.refresh_blocks().await?;
        if self.exists(package.as_str()) {
            self.package_changed(package).await?;
        }
        Ok(())
    }

    /// After a change to the blocks as a whole (a category's treatment): every cached
    /// document is rendered again.
    pub async fn refresh_blocks(&self) -> Result<(), sqlx::Error> {
        {
            let mut state = self.state.write().unwrap();
            state.packages.clear();
            state.roots.clear();
            state.filtered_roots.clear();
        }
        self.refresh().await
    }

    /// The root's `filter` key: the block categories as lists, when there are blocks.
    pub async fn filter_announcement(&self) -> Result<Option<Value>, sqlx::Error> {
        let categories: Vec<String> = self
            .db
            .block_categories()
            .await?
            .into_iter()
            .map(|(category, _)| category)
            .collect();
        Ok(root_filter(&categories))
    }

    /// Forgets what is cached for `package` after this process changed it.
    pub async fn package_changed(&self, package: &PackageName) -> Result<(), sqlx::Error> {
        self.state
            .write()
            .unwrap()
            .packages
            .remove(package.as_str());
        self.refresh().await
    }

    async fn entry(&self, package: &str) -> Result<Option<Arc<PackageEntry>>, sqlx::Error> {
        // One look under one lock on the way every warm request takes: a cached entry
        // is one whose stamp is current (`apply_stamps` drops the others), so the
        // package exists.
        let (seen, exists) = {
            let state = self.state.read().unwrap();
            if let Some(entry) = state.packages.get(package) {
                crate::metrics::metrics().cache_read(crate::metrics::Cache::Metadata, true);
                return Ok(Some(entry.clone()));
            }
            (state.catalogue, state.stamps.contains_key(package))
        };
        let exists = exists || (self.catch_up(seen).await? && self.exists(package));
        if !exists {
            return Ok(None);
        }
        crate::metrics::metrics().cache_read(crate::metrics::Cache::Metadata, false);
        let Some((row, mut versions)) = self.db.package_with_versions(package).await? else {
            return Ok(None);
        };
        self.keep_approved_plugins(package, &mut versions).await?;
        let blocks = self.block_rules(package).await?;
        let notice = |version: &str, normalized: &str| {
            (!blocks.is_empty())
                .then(|| blocks.notice(version, normalized).map(Arc::new))
                .flatten()
        };
        let dists = versions
            .iter()
            .map(|v| {
                let location = DistLocation {
                    blocked: notice(&v.version, &v.version_normalized),
                    ..DistLocation::of(v)
                };
                (v.reference.clone(), location)
            })
            .collect();
        let (withdrawn, versions): (Vec<VersionRecord>, Vec<VersionRecord>) = versions
            .into_iter()
            .partition(|v| !blocks.is_empty() && blocks.withdraws(&v.version_normalized));
        let exempt = if self.supply_chain.release_age_exempt_fixes {
            self.fixes(package, &versions).await?
        } else {
            HashSet::new()
        };
        let retained = self
            .db
            .retained_dists(package)
            .await?
            .into_iter()
            .map(|r| {
                let location = DistLocation {
                    blocked: notice(&r.version, &r.version_normalized),
                    store: r.dist_store.as_str().to_owned(),
                    key: r.dist_key,
                    version_normalized: r.version_normalized,
                    shasum: r.shasum,
                };
                (r.reference, (location, r.released_at))
            })
            .collect();
        let entry = Arc::new(PackageEntry {
            stamp: row.updated_at,
            versions,
            withdrawn,
            blocks,
            exempt,
            dists,
            retained,
            rendered: RwLock::new(HashMap::new()),
            filtered: RwLock::new(HashMap::new()),
        });
        let mut state = self.state.write().unwrap();
        // Cache only what matches the stamp everyone else compares against; a newer
        // row than our stamps is served but re-read after the next refresh.
        if state.stamps.get(package) == Some(&row.updated_at) {
            state.packages.insert(package.to_owned(), entry.clone());
        }
        Ok(Some(entry))
    }
}

impl PackageEntry {
    /// The versions of `package` (this entry's) that `view` sees.
    fn visible<'a>(
        &'a self,
        package: &'a str,
        view: &'a View,
    ) -> impl Iterator<Item = &'a VersionRecord> + 'a {
        self.offered(&self.versions, package, view)
    }

    /// Those of `versions` (this entry's) that `view` is offered now.
    fn offered<'a>(
        &'a self,
        versions: &'a [VersionRecord],
        package: &'a str,
        view: &'a View,
    ) -> impl Iterator<Item = &'a VersionRecord> + 'a {
        let now = crate::db::now_millis();
        versions
            .iter()
            .filter(move |v| view.offers(package, &self.release(v), now))
    }

    /// `version` as cooldowns judge it.
    fn release<'a>(&self, version: &'a VersionRecord) -> Release<'a> {
        Release {
            normalized: &version.version_normalized,
            released_at: version.released_at,
            published_at: version.published_at,
            exempt: self.exempt.contains(&version.version_normalized),
        }
    }

    /// The withdrawn versions of `package` that `view` would see.
    fn visible_withdrawn<'a>(
        &'a self,
        package: &'a str,
        view: &'a View,
    ) -> impl Iterator<Item = &'a VersionRecord> + 'a {
        self.offered(&self.withdrawn, package, view)
    }

    /// The `filter` entries of the package's blocks, for `view` (`None`: one that sees
    /// every version).
    fn filter(&self, package: &str, view: Option<&View>) -> Map<String, Value> {
        if self.blocks.is_empty() {
            return Map::new();
        }
        let Some(view) = view else {
            return self.blocks.filter(None);
        };
        let seen: Vec<&str> = self
            .visible(package, view)
            .chain(self.visible_withdrawn(package, view))
            .map(|v| v.version_normalized.as_str())
            .collect();
        self.blocks.filter(Some(&seen))
    }

    fn render(&self, package: &str, base: &str) -> DocumentPair {
        if let Some(pair) = self.rendered.read().unwrap().get(base) {
            return pair.clone();
        }
        // Rendered outside the lock: two threads may both render, and one wins.
        let pair = render_documents(
            package,
            self.versions.iter(),
            &self.filter(package, None),
            base,
            self.stamp,
        );
        let mut rendered = self.rendered.write().unwrap();
        if rendered.len() >= MAX_BASES {
            rendered.clear();
        }
        rendered.insert(base.to_owned(), pair.clone());
        pair
    }

    /// The documents with only the versions `view` sees; `None` when it sees none and
    /// none was withdrawn from it.
    fn render_for(&self, package: &str, base: &str, view: &View) -> Option<DocumentPair> {
        // Under a cooldown, what the view sees changes as versions come of age: such
        // documents are rendered again each minute, and dated no earlier than it.
        let (key, minute) = if view.has_release_age() {
            let minute = crate::db::now_millis() / COOLDOWN_RENDER_EVERY_MS;
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            std::hash::Hash::hash(&(view.key(), minute), &mut hasher);
            (
                std::hash::Hasher::finish(&hasher),
                minute * COOLDOWN_RENDER_EVERY_MS,
            )
        } else {
            (view.key(), 0)
        };
        if let Some(pair) = self
            .filtered
            .read()
            .unwrap()
            .get(base)
            .and_then(|views| views.get(&key))
        {
            return pair.clone();
        }
        let mut visible = self.visible(package, view).peekable();
        // A change of the rules changes what the view sees: its documents are no older.
        let filter = self.filter(package, Some(view));
        // Versions it would see that a block withdrew: documents with none, whose
        // `filter` entries tell Composer why (not a 404 that says nothing).
        let offered_any =
            visible.peek().is_some() || self.visible_withdrawn(package, view).next().is_some();
        let pair = offered_any.then(|| {
            render_documents(
                package,
                visible,
                &filter,
                base,
                self.stamp.max(view.stamp()).max(minute),
            )
        });
        let mut filtered = self.filtered.write().unwrap();
        if filtered.values().map(HashMap::len).sum::<usize>() >= MAX_FILTERED {
            filtered.clear();
        }
        filtered
            .entry(base.to_owned())
            .or_default()
            .insert(key, pair.clone());
        pair
    }
}

fn render_documents<'a>(
    package: &str,
    versions: impl Iterator<Item = &'a VersionRecord>,
    filter: &Map<String, Value>,
    base: &str,
    stamp: i64,
) -> DocumentPair {
    let versions = versions
        .map(|v| version_document(package, v, base))
        .collect();
    let documents = composer::p2::render_with_filter(package, versions, filter);
    Arc::new(Rendered {
        tagged: Document::new(documents.tagged, stamp),
        dev: Document::new(documents.dev, stamp),
        v1: OnceLock::new(),
    })
}

/// One version as Composer reads it: identity first, then the published composer.json
/// fields, then where to download it.
fn version_document(package: &str, version: &VersionRecord, base: &str) -> Map<String, Value> {
    let mut document = Map::new();
    document.insert("name".into(), package.into());
    document.insert("version".into(), version.version.clone().into());
    document.insert(
        "version_normalized".into(),
        version.version_normalized.clone().into(),
    );
    if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&version.metadata) {
        document.extend(fields);
    }
    document
        .entry("time")
        .or_insert_with(|| crate::time::rfc3339(version.released_at / 1000).into());
    // When packyard published it, which no author can set (packagist.org's field):
    // what release-age rules and tools such as Renovate go by.
    if version.published_at > 0 {
        document.insert(
            "published-time".into(),
            crate::time::rfc3339(version.published_at / 1000).into(),
        );
    }
    document.insert(
        "dist".into(),
        json!({
            "type": "zip",
            "url": format!("{base}/zipball/{package}/{}.zip", version.reference),
            "reference": version.reference,
            "shasum": version.shasum,
        }),
    );
    document
}

fn stamp_to_time(stamp_millis: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(stamp_millis / 1000).unwrap_or(0))
}

/// A root `packages.json` for clients at `base`. With `available`, the archives of
/// the packages it names are at `/zipball/{package}/{reference}.{type}`; without (a
/// repository that includes mirrors), at the route that also serves mirrored ones.
/// The `mirrors` dist-url of a repository at `base` that serves mirrored archives: what
/// its root announces, and what its mirrored documents' own dist URLs are made from.
pub fn archive_pattern(base: &str) -> String {
    format!("{base}/zipball/%package%/%version%/%reference%.%type%")
}

fn root_body(base: &str, available: Option<&[&String]>) -> serde_json::Value {
    let dist_url = match available {
        Some(_) => format!("{base}/zipball/%package%/%reference%.%type%"),
        None => archive_pattern(base),
    };
    let mut body = json!({
        "packages": [],
        "metadata-url": format!("{base}/p2/%package%.json"),
        "notify-batch": format!("{base}/downloads/"),
        "mirrors": [{"dist-url": dist_url, "preferred": true}],
        "search": format!("{base}/search.json?q=%query%&type=%type%"),
        "list": format!("{base}/packages/list.json"),
        "security-advisories": {"metadata": false, "api-url": format!("{base}/api/security-advisories/")},
    });
    if let Some(names) = available {
        body["available-packages"] = json!(names);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{VersionRecord, testing};

    fn version(v: &str, normalized: &str, reference: &str) -> VersionRecord {
        VersionRecord {
            version_normalized: normalized.into(),
            metadata: r#"{"require":{"php":">=8.1"},"type":"library"}"#.into(),
            ..testing::artifact_version(v, reference)
        }
    }

    fn packages(document: &Document) -> Vec<Map<String, Value>> {
        let value: Value = serde_json::from_slice(&document.body).unwrap();
        let list = value["packages"]["acme/lib"].as_array().unwrap().clone();
        composer::minify::expand(
            list.into_iter()
                .map(|v| v.as_object().unwrap().clone())
                .collect(),
        )
    }

    /// How many versions of `name` `metadata` serves to an admin.
    async fn versions_seen(metadata: &Metadata, name: &PackageName) -> usize {
        let document = metadata
            .p2(name, false, "http://repo.test", &View::everything())
            .await
            .unwrap()
            .unwrap();
        packages(&document).len()
    }

    #[tokio::test]
    async fn a_replica_catches_up_with_what_another_changed_and_removed() {
        let (db, _dir) = testing::sqlite().await;
        for (name, reference) in [("acme/lib", "aaa"), ("acme/old", "ooo")] {
            db.save_version(
                name,
                crate::db::PackageKind::Artifact,
                &version("1.0.0", "1.0.0.0", reference),
            )
            .await
            .unwrap();
        }
        // Two replicas' caches of one database.
        let other = Metadata::load(db.clone()).await.unwrap();
        let this = Metadata::load(db.clone()).await.unwrap();
        let name = crate::db::testing::package("acme/lib");
        assert_eq!(versions_seen(&this, &name).await, 1);
        let whole_read = this.state.read().unwrap().read_whole_at;

        // A new version through the other replica: read as a change, by stamp.
        db.save_version(
            "acme/lib",
            crate::db::PackageKind::Artifact,
            &version("1.1.0", "1.1.0.0", "bbb"),
        )
        .await
        .unwrap();
        other.package_changed(&name).await.unwrap();
        this.refresh().await.unwrap();
        assert_eq!(versions_seen(&this, &name).await, 2);
        assert_eq!(
            this.state.read().unwrap().read_whole_at,
            whole_read,
            "not read whole"
        );

        // A removal changes no stamp; the count gives it away and every stamp is read.
        let whole_before = whole_read;
        assert!(db.delete_package("acme/old").await.unwrap());
        this.refresh().await.unwrap();
        assert!(!this.exists("acme/old"));
        assert!(this.exists("acme/lib"));
        assert_ne!(this.state.read().unwrap().read_whole_at, whole_before);

        // Nothing changed: the stamps stay the very same map.
        let stamps = this.stamps();
        this.refresh().await.unwrap();
        assert!(Arc::ptr_eq(&stamps, &this.stamps()));
    }

    #[tokio::test]
    async fn documents_are_rendered_cached_and_invalidated() {
        let (db, _dir) = testing::sqlite().await;
        db.save_version(
            "acme/lib",
            crate::db::PackageKind::Artifact,
            &version("1.0.0", "1.0.0.0", "aaa"),
        )
        .await
        .unwrap();
        db.save_version(
            "acme/lib",
            crate::db::PackageKind::Artifact,
            &version("dev-main", "dev-main", "bbb"),
        )
        .await
        .unwrap();
        let metadata = Metadata::load(db.clone()).await.unwrap();
        let base = "http://repo.test";

        let tagged = metadata
            .p2(
                &crate::db::testing::package("acme/lib"),
                false,
                base,
                &View::everything(),
            )
            .await
            .unwrap()
            .unwrap();
        let versions = packages(&tagged);
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0]["version_normalized"], "1.0.0.0");
        assert_eq!(
            versions[0]["dist"]["url"],
            "http://repo.test/zipball/acme/lib/aaa.zip"
        );
        assert_eq!(versions[0]["time"], "2023-11-14T22:13:20+00:00");
        let dev = metadata
            .p2(
                &crate::db::testing::package("acme/lib"),
                true,
                base,
                &View::everything(),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(packages(&dev)[0]["version"], "dev-main");
        assert!(
            metadata
                .p2(
                    &crate::db::testing::package("acme/none"),
                    false,
                    base,
                    &View::everything()
                )
                .await
                .unwrap()
                .is_none()
        );

        let again = metadata
            .p2(
                &crate::db::testing::package("acme/lib"),
                false,
                base,
                &View::everything(),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            again.body.as_ptr(),
            tagged.body.as_ptr(),
            "served from memory"
        );

        // A change made by another replica shows after refresh.
        db.save_version(
            "acme/lib",
            crate::db::PackageKind::Artifact,
            &version("1.1.0", "1.1.0.0", "ccc"),
        )
        .await
        .unwrap();
        metadata.refresh().await.unwrap();
        let updated = metadata
            .p2(
                &crate::db::testing::package("acme/lib"),
                false,
                base,
                &View::everything(),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(packages(&updated).len(), 2);
        assert!(updated.last_modified >= tagged.last_modified);
        assert_eq!(
            metadata
                .dist(
                    &crate::db::testing::package("acme/lib"),
                    "ccc",
                    &View::everything()
                )
                .await
                .unwrap()
                .unwrap()
                .key,
            "ccc.zip"
        );
        assert!(
            metadata
                .dist(
                    &crate::db::testing::package("acme/lib"),
                    "zzz",
                    &View::everything()
                )
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn root_lists_every_package() {
        let (db, _dir) = testing::sqlite().await;
        db.save_version(
            "acme/lib",
            crate::db::PackageKind::Artifact,
            &version("1.0.0", "1.0.0.0", "aaa"),
        )
        .await
        .unwrap();
        let metadata = Metadata::load(db).await.unwrap();
        let root: Value = serde_json::from_slice(
            &metadata
                .root("http://h", &View::everything())
                .await
                .unwrap()
                .body,
        )
        .unwrap();
        assert_eq!(root["available-packages"], json!(["acme/lib"]));
        assert_eq!(root["metadata-url"], "http://h/p2/%package%.json");
        assert_eq!(
            root["mirrors"][0]["dist-url"],
            "http://h/zipball/%package%/%reference%.%type%"
        );
        assert_eq!(root["notify-batch"], "http://h/downloads/");
    }
}
