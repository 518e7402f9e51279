//! Prometheus metrics, served at `GET /metrics` in the text format: requests by route
//! template and status with latency histograms and bytes served, storage requests and
//! failures by store, mirror upstream requests and coalesced waits, cache hits and
//! misses, the job queue (depth by state, runs by kind and outcome), and how long scans
//! and dist builds take.
//!
//! One process-wide set ([`metrics`]), because counting happens everywhere (the HTTP
//! edge, jobs, mirrors) and must cost no more than an atomic increment and a short
//! read lock; what only the database knows (queue depth) is read when scraped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

use crate::db::{Db, JobState};

/// Route labels are the router's templates (`/p2/{vendor}/{file}`), `'static` strings,
/// so that counting a request allocates nothing.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

/// A histogram that many threads observe at once without a lock: one atomic per
/// bucket, the count and the sum (in nanoseconds). prometheus-client's own takes a
/// mutex per observation, which every request on the hot path would contend for.
#[derive(Debug, Clone)]
pub struct AtomicHistogram {
    inner: Arc<HistogramCells>,
}

#[derive(Debug)]
struct HistogramCells {
    bounds: Vec<f64>,
    /// Observations per bucket (not cumulative); the last is `+Inf`.
    counts: Vec<AtomicU64>,
    sum_nanos: AtomicU64,
}

impl AtomicHistogram {
    fn new(bounds: impl Iterator<Item = f64>) -> Self {
        let bounds: Vec<f64> = bounds.collect();
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        AtomicHistogram {
            inner: Arc::new(HistogramCells {
                bounds,
                counts,
                sum_nanos: AtomicU64::new(0),
            }),
        }
    }

    pub fn observe(&self, seconds: f64) {
        let cells = &self.inner;
        // NaN compares false with every bound: count it in `+Inf` alone.
        let bucket = if seconds.is_nan() {
            cells.bounds.len()
        } else {
            cells.bounds.partition_point(|bound| *bound < seconds)
        };
        cells.counts[bucket].fetch_add(1, Ordering::Relaxed);
        // Saturating float-to-int: negative or NaN durations count as 0.
        let nanos = (seconds * 1e9) as u64;
        cells.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl TypedMetric for AtomicHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let cells = &self.inner;
        // Per bucket, not cumulative: the encoder sums them up, and the last bound is
        // `+Inf`.
        let buckets: Vec<(f64, u64)> = cells
            .counts
            .iter()
            .enumerate()
            .map(|(at, count)| {
                let bound = cells.bounds.get(at).copied().unwrap_or(f64::INFINITY);
                (bound, count.load(Ordering::Relaxed))
            })
            .collect();
        let total = buckets.iter().map(|(_, count)| count).sum();
        let sum = cells.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        // The count is the buckets' total, so that a scrape racing an observation
        // never shows more in `_count` than in the `+Inf` bucket.
        encoder.encode_histogram::<NoLabelSet>(sum, total, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    mirror: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkLabels {
    work: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// What one upstream request came to.
#[derive(Debug, Clone, Copy)]
pub enum UpstreamOutcome {
    Ok,
    NotModified,
    NotFound,
    Failed,
}

impl UpstreamOutcome {
    fn as_str(self) -> &'static str {
        match self {
            UpstreamOutcome::Ok => "ok",
            UpstreamOutcome::NotModified => "not_modified",
            UpstreamOutcome::NotFound => "not_found",
            UpstreamOutcome::Failed => "failed",
        }
    }
}

/// The in-memory caches whose reads are counted.
#[derive(Debug, Clone, Copy)]
pub enum Cache {
    Metadata = 0,
    MirrorDocument = 1,
}

impl Cache {
    const ALL: [Cache; 2] = [Cache::Metadata, Cache::MirrorDocument];

    fn as_str(self) -> &'static str {
        match self {
            Cache::Metadata => "metadata",
            Cache::MirrorDocument => "mirror_document",
        }
    }
}

/// One route and status's counters: shared handles onto the families' cells.
#[derive(Clone)]
struct RouteHandles {
    requests: Counter,
    latency: AtomicHistogram,
    bytes: Counter,
}

/// A hasher for keys that are already well spread (addresses, small numbers).
#[derive(Default)]
struct FoldHasher(u64);

impl std::hash::Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(u64::from(*byte));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }

    fn write_u16(&mut self, value: u16) {
        self.write_u64(u64::from(value));
    }
}

/// A route template's address (each is one `'static` string) and a status.
type RouteKey = (usize, u16);

thread_local! {
    /// Per thread, the handles of each (route, status) seen: each HTTP thread serves
    /// its own connections, so this is never contended.
    static ROUTE_HANDLES: std::cell::RefCell<
        HashMap<RouteKey, RouteHandles, std::hash::BuildHasherDefault<FoldHasher>>,
    > = std::cell::RefCell::default();
}

pub struct Metrics {
    registry: Registry,
    /// `cache_reads` handles by [`Cache`], then miss/hit.
    cache_reads: [[Counter; 2]; 2],
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, AtomicHistogram>,
    bytes: Family<RouteLabels, Counter>,
    upstream: Family<UpstreamLabels, Counter>,
    coalesced: Family<WorkLabels, Counter>,
    jobs: Family<JobLabels, Counter>,
    queue: Family<StateLabels, Gauge>,
    scans: AtomicHistogram,
    dist_builds: AtomicHistogram,
    webhook_attempts: Family<OutcomeLabels, Counter>,
    stamp_rechecks: Counter,
    version_conflicts: Family<ConflictLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConflictLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

fn latency_histogram() -> AtomicHistogram {
    // 0.5 ms to about 16 s.
    AtomicHistogram::new(exponential_buckets(0.0005, 2.0, 16))
}

fn work_histogram() -> AtomicHistogram {
    // 10 ms to about 20 minutes.
    AtomicHistogram::new(exponential_buckets(0.01, 2.0, 18))
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("packyard");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template and status",
            requests.clone(),
        );
        let latency =
            Family::<RouteLabels, AtomicHistogram>::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (until the response head), by route template",
            latency.clone(),
        );
        let bytes = Family::<RouteLabels, Counter>::default();
        registry.register(
            "http_response_body_bytes",
            "Response body bytes announced (Content-Length), by route template",
            bytes.clone(),
        );
        let upstream = Family::<UpstreamLabels, Counter>::default();
        registry.register(
            "mirror_upstream_requests",
            "Requests to mirrored repositories, by mirror and outcome (a private package's name, never sent upstream, counts as the miss a client is answered with)",
            upstream.clone(),
        );
        let version_conflicts = Family::<ConflictLabels, Counter>::default();
        registry.register(
            "version_conflicts",
            "Published versions offered other contents and kept their own, by kind: a moved git tag (tag_moved), other bytes from a mirror's upstream for a pinned archive (archive_changed), an upstream document changing a stable version (mirrored_version_changed)",
            version_conflicts.clone(),
        );
        let coalesced = Family::<WorkLabels, Counter>::default();
        registry.register(
            "coalesced_waits",
            "Requests that waited for the same work another request was doing (one upstream fetch, one dist build)",
            coalesced.clone(),
        );
        let cache = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_reads",
            "In-memory cache reads, by cache and result (hit or miss)",
            cache.clone(),
        );
        let jobs = Family::<JobLabels, Counter>::default();
        registry.register(
            "jobs_finished",
            "Background jobs this process finished, by kind and outcome",
            jobs.clone(),
        );
        let queue = Family::<StateLabels, Gauge>::default();
        registry.register(
            "jobs",
            "Background jobs in the database, by state (read when scraped)",
            queue.clone(),
        );
        let scans = work_histogram();
        registry.register(
            "git_scan_duration_seconds",
            "Time a git package scan took",
            scans.clone(),
        );
        let dist_builds = work_histogram();
        registry.register(
            "dist_build_duration_seconds",
            "Time building a dist zip from git took",
            dist_builds.clone(),
        );
        let webhook_attempts = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "webhook_attempts",
            "Outgoing webhook delivery attempts, by outcome (delivered, refused by the receiver, unanswered)",
            webhook_attempts.clone(),
        );
        let stamp_rechecks = Counter::default();
        registry.register(
            "stamp_rechecks",
            "Change stamps read again before answering that something is unknown, so that a replica behind another one catches up first (see freshness)",
            stamp_rechecks.clone(),
        );
        registry.register(
            "log_lines_dropped",
            "Log lines dropped because stderr took them slower than they came (see logging)",
            crate::logging::dropped_lines().clone(),
        );
        registry.register_collector(Box::new(StorageCollector));
        let cache_reads = Cache::ALL.map(|which| {
            ["miss", "hit"].map(|result| {
                cache
                    .get_or_create(&CacheLabels {
                        cache: which.as_str(),
                        result,
                    })
                    .clone()
            })
        });
        Metrics {
            registry,
            cache_reads,
            requests,
            latency,
            bytes,
            upstream,
            coalesced,
            jobs,
            queue,
            scans,
            dist_builds,
            webhook_attempts,
            stamp_rechecks,
            version_conflicts,
        }
    }

    /// A published version kept its contents against an offer of others (`kind`:
    /// `tag_moved`, `archive_changed`, `mirrored_version_changed`).
    pub fn version_conflict(&self, kind: &'static str) {
        self.version_conflicts
            .get_or_create(&ConflictLabels { kind })
            .inc();
    }

    /// One answered HTTP request. `route` is the router's template: its address is
    /// stable for the router's life, which keys a per-thread table of this route's
    /// counters, so that the hot path neither hashes the text nor takes a lock.
    pub fn request(&self, route: &'static str, status: u16, seconds: f64, body_bytes: Option<u64>) {
        let key = (route.as_ptr() as usize, status);
        ROUTE_HANDLES.with_borrow_mut(|table| {
            let handles = table
                .entry(key)
                .or_insert_with(|| self.route_handles(route, status));
            handles.requests.inc();
            handles.latency.observe(seconds);
            if let Some(bytes) = body_bytes {
                handles.bytes.inc_by(bytes);
            }
        });
    }

    fn route_handles(&self, route: &'static str, status: u16) -> RouteHandles {
        let labels = RouteLabels { route };
        RouteHandles {
            requests: self
                .requests
                .get_or_create(&RequestLabels { route, status })
                .clone(),
            latency: self.latency.get_or_create(&labels).clone(),
            bytes: self.bytes.get_or_create(&labels).clone(),
        }
    }

    pub fn upstream_request(&self, mirror: &str, outcome: UpstreamOutcome) {
        self.upstream
            .get_or_create(&UpstreamLabels {
                mirror: mirror.to_owned(),
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// A request that waited for work another one was doing (`work` names it).
    /// A change stamp read again before a "no" (see `freshness`).
    pub fn stamp_recheck(&self) {
        self.stamp_rechecks.inc();
    }

    pub fn coalesced_wait(&self, work: &'static str) {
        self.coalesced.get_or_create(&WorkLabels { work }).inc();
    }

    pub fn cache_read(&self, cache: Cache, hit: bool) {
        self.cache_reads[cache as usize][usize::from(hit)].inc();
    }

    pub fn job_finished(&self, kind: &str, succeeded: bool) {
        self.jobs
            .get_or_create(&JobLabels {
                kind: kind.to_owned(),
                outcome: if succeeded { "succeeded" } else { "failed" },
            })
            .inc();
    }

    pub fn webhook_attempt(&self, outcome: &'static str) {
        self.webhook_attempts
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub fn scan_took(&self, seconds: f64) {
        self.scans.observe(seconds);
    }

    pub fn dist_build_took(&self, seconds: f64) {
        self.dist_builds.observe(seconds);
    }

    /// The text exposition, with the queue depth read from `db` now.
    pub async fn render(&self, db: &Db) -> Result<String, sqlx::Error> {
        let counts = db.job_counts().await?;
        for state in JobState::ALL {
            // States with no jobs read 0 rather than keeping an older count.
            let count = counts
                .iter()
                .find(|(counted, _)| *counted == state)
                .map_or(0, |(_, count)| *count);
            self.queue
                .get_or_create(&StateLabels {
                    state: state.as_str(),
                })
                .set(count);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode_registry(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        Ok(prometheus_text(&text))
    }
}

/// The Prometheus text format (0.0.4) of prometheus-client's OpenMetrics text: there a
/// counter family `x` has samples `x_total`, which Prometheus' parser would read as an
/// untyped family of their own; so counter families are named `x_total` in their
/// `# HELP` and `# TYPE` lines.
fn prometheus_text(openmetrics: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(openmetrics.len() + 256);
    let mut help: Option<&str> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = Some(rest);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            let family = if kind == "counter" && !name.ends_with("_total") {
                format!("{name}_total")
            } else {
                name.to_owned()
            };
            if let Some(help) = help.take() {
                let text = help.split_once(' ').map_or("", |(_, text)| text);
                let _ = writeln!(out, "# HELP {family} {text}");
            }
            let _ = writeln!(out, "# TYPE {family} {kind}");
            continue;
        }
        if let Some(help) = help.take() {
            out.push_str("# HELP ");
            out.push_str(help);
            out.push('\n');
        }
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The storage crate's own counters, read at each scrape.
#[derive(Debug)]
struct StorageCollector;

impl Collector for StorageCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let requests = storage::metrics::requests();
        for (name, help, failed) in [
            (
                "storage_requests",
                "Requests to the backend of each store, by operation (answered, found or not)",
                false,
            ),
            (
                "storage_errors",
                "Backend requests that failed or timed out, by store and operation",
                true,
            ),
        ] {
            let mut family = encoder.encode_descriptor(
                name,
                help,
                None,
                ConstCounter::new(0u64).metric_type(),
            )?;
            for (store, operation, answered, errors) in &requests {
                let labels = [("store", store.as_str()), ("operation", operation.as_str())];
                let value = if failed { *errors } else { *answered };
                ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "storage_cache_reads",
            "Reads served by a store's local disk cache (hit) or its backend (miss)",
            None,
            ConstCounter::new(0u64).metric_type(),
        )?;
        for (store, hits, misses) in storage::metrics::cache_reads() {
            for (result, value) in [("hit", hits), ("miss", misses)] {
                let labels = [("store", store.as_str()), ("result", result)];
                ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{AtomicHistogram, prometheus_text};
    use prometheus_client::registry::Registry;

    #[test]
    fn counter_families_carry_their_sample_names() {
        let openmetrics = "# HELP a_requests Requests.\n# TYPE a_requests counter\na_requests_total{route=\"/p2/{vendor}\"} 3\n# HELP a_jobs Jobs.\n# TYPE a_jobs gauge\na_jobs 1\n# EOF\n";
        assert_eq!(
            prometheus_text(openmetrics),
            "# HELP a_requests_total Requests.\n# TYPE a_requests_total counter\na_requests_total{route=\"/p2/{vendor}\"} 3\n# HELP a_jobs Jobs.\n# TYPE a_jobs gauge\na_jobs 1\n"
        );
    }

    #[test]
    fn atomic_histograms_encode_cumulative_buckets() {
        let histogram = AtomicHistogram::new([0.1, 1.0].into_iter());
        for seconds in [0.05, 0.1, 0.5, 3.0, f64::NAN] {
            histogram.observe(seconds);
        }
        let mut registry = Registry::default();
        registry.register("took_seconds", "Time.", histogram.clone());
        let mut text = String::new();
        prometheus_client::encoding::text::encode_registry(&mut text, &registry).unwrap();
        // 0.05 and 0.1 are <= 0.1; 0.5 is <= 1; 3 and NaN only in +Inf (NaN adds 0 s).
        for line in [
            "took_seconds_sum 3.65",
            "took_seconds_count 5",
            "took_seconds_bucket{le=\"0.1\"} 2",
            "took_seconds_bucket{le=\"1.0\"} 3",
            "took_seconds_bucket{le=\"+Inf\"} 5",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
    }
}
