//! Saying "no" only from a current cache. Each replica answers from memory (package
//! documents, archive locations, access rules) and learns of other replicas' changes by
//! polling stamps every 2 s; a client that reads across replicas (Composer takes a
//! package list from one and its archive from another) must not be told "unknown" by a
//! replica whose memory is behind. So before a "no", the replica reads the change stamp
//! once more — one row — through a [`Recheck`], and catches up when it moved.
//!
//! A check counts for a request only if it started after the request was decided to be
//! a miss: a write that another replica committed before the client asked here is then
//! always seen. Checks run one at a time per stamp, and every miss waiting meanwhile
//! shares the next one, so a flood of requests for names that really are unknown costs
//! the database at most one single-row read at a time.

use std::future::Future;
use std::sync::Mutex;
use std::time::Instant;

/// One stamp's re-reads (see the module's comment).
#[derive(Default)]
pub struct Recheck {
    /// The latest check that finished: when it started, and what it read.
    last: Mutex<Option<(Instant, i64)>>,
    /// Held while a check runs.
    running: tokio::sync::Mutex<()>,
}

impl Recheck {
    /// The stamp as `read` finds it in a check that started at `since` or later.
    pub async fn stamp<F, Fut, E>(&self, since: Instant, read: F) -> Result<i64, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<i64, E>>,
    {
        if let Some(stamp) = self.read_since(since) {
            return Ok(stamp);
        }
        let _turn = self.running.lock().await;
        // A check that started after `since` may have finished while this one waited.
        if let Some(stamp) = self.read_since(since) {
            return Ok(stamp);
        }
        let started = Instant::now();
        crate::metrics::metrics().stamp_recheck();
        let stamp = read().await?;
        let mut last = self.last.lock().unwrap();
        if last.is_none_or(|(at, _)| at < started) {
            *last = Some((started, stamp));
        }
        Ok(stamp)
    }

    fn read_since(&self, since: Instant) -> Option<i64> {
        self.last
            .lock()
            .unwrap()
            .filter(|(started, _)| *started >= since)
            .map(|(_, stamp)| stamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn a_check_counts_only_for_misses_that_came_before_it_started() {
        let recheck = Recheck::default();
        let reads = AtomicUsize::new(0);
        let stamp = AtomicI64::new(1);
        let read = || async {
            reads.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(stamp.load(Ordering::SeqCst))
        };
        let first = Instant::now();
        assert_eq!(recheck.stamp(first, read).await, Ok(1));
        // A miss from before that check shares it; one after it does not.
        assert_eq!(recheck.stamp(first, read).await, Ok(1));
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        stamp.store(2, Ordering::SeqCst);
        assert_eq!(recheck.stamp(Instant::now(), read).await, Ok(2));
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_flood_of_misses_reads_one_at_a_time() {
        let recheck = Arc::new(Recheck::default());
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let reads = Arc::new(AtomicUsize::new(0));
        let mut misses = Vec::new();
        for _ in 0..200 {
            let (recheck, running, most, reads) = (
                recheck.clone(),
                running.clone(),
                most.clone(),
                reads.clone(),
            );
            misses.push(tokio::spawn(async move {
                recheck
                    .stamp(Instant::now(), || async {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        reads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, ()>(7)
                    })
                    .await
            }));
        }
        for miss in misses {
            assert_eq!(miss.await.unwrap(), Ok(7));
        }
        assert_eq!(most.load(Ordering::SeqCst), 1, "checks overlapped");
        // Misses that waited together share the check that followed them.
        assert!(reads.load(Ordering::SeqCst) < 200, "{reads:?}");
    }
}
