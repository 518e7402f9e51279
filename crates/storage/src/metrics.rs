//! Counts of what the stores did, for the server's `/metrics`: requests to each
//! backend by operation and outcome, and local cache hits and misses. Plain atomics,
//! written on every operation and read only when metrics are scraped, so counting
//! costs one relaxed increment.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::StoreName;

/// A kind of backend request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Get,
    Put,
    Head,
    Delete,
    Multipart,
}

impl Operation {
    pub const ALL: [Operation; 5] = [
        Operation::Get,
        Operation::Put,
        Operation::Head,
        Operation::Delete,
        Operation::Multipart,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Get => "get",
            Operation::Put => "put",
            Operation::Head => "head",
            Operation::Delete => "delete",
            Operation::Multipart => "multipart",
        }
    }
}

/// What a request came to: answered (found or not), or failed (error or timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Answered,
    Failed,
}

const STORES: usize = StoreName::ALL.len();
const OPERATIONS: usize = Operation::ALL.len();

// Constants, not statics: each use in an array repeat makes a fresh zero.
#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const PAIR: [AtomicU64; 2] = [ZERO, ZERO];
#[allow(clippy::declare_interior_mutable_const)]
const PER_OPERATION: [[AtomicU64; 2]; OPERATIONS] = [PAIR; OPERATIONS];
/// Per store and operation: answered and failed requests.
static REQUESTS: [[[AtomicU64; 2]; OPERATIONS]; STORES] = [PER_OPERATION; STORES];
/// Per store: local cache hits and misses.
static CACHE: [[AtomicU64; 2]; STORES] = [PAIR; STORES];

fn store_index(store: StoreName) -> usize {
    StoreName::ALL
        .iter()
        .position(|s| *s == store)
        .expect("every store is listed")
}

fn operation_index(operation: Operation) -> usize {
    Operation::ALL
        .iter()
        .position(|o| *o == operation)
        .expect("every operation is listed")
}

pub(crate) fn record(store: StoreName, operation: Operation, outcome: Outcome) {
    let slot = usize::from(outcome == Outcome::Failed);
    REQUESTS[store_index(store)][operation_index(operation)][slot].fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn record_cache(store: StoreName, hit: bool) {
    CACHE[store_index(store)][usize::from(!hit)].fetch_add(1, Ordering::Relaxed);
}

/// Requests so far: `(store, operation, answered, failed)` for every pair.
pub fn requests() -> Vec<(StoreName, Operation, u64, u64)> {
    let mut all = Vec::with_capacity(STORES * OPERATIONS);
    for store in StoreName::ALL {
        for operation in Operation::ALL {
            let [answered, failed] = &REQUESTS[store_index(store)][operation_index(operation)];
            all.push((
                store,
                operation,
                answered.load(Ordering::Relaxed),
                failed.load(Ordering::Relaxed),
            ));
        }
    }
    all
}

/// Local cache reads so far: `(store, hits, misses)`.
pub fn cache_reads() -> Vec<(StoreName, u64, u64)> {
    StoreName::ALL
        .into_iter()
        .map(|store| {
            let [hits, misses] = &CACHE[store_index(store)];
            (
                store,
                hits.load(Ordering::Relaxed),
                misses.load(Ordering::Relaxed),
            )
        })
        .collect()
}
