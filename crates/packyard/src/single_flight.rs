//! One piece of work per key at a time: callers that arrive while the work for their key
//! is running wait for it instead of repeating it (e.g. building one dist archive for
//! many concurrent first downloads).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub struct SingleFlight<K> {
    running: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
    /// What the work is, for the `coalesced_waits` metric.
    work: &'static str,
}

impl<K> Default for SingleFlight<K> {
    fn default() -> Self {
        Self::named("work")
    }
}

impl<K> SingleFlight<K> {
    /// A single flight whose waits are counted as `work` (e.g. `dist_build`).
    pub fn named(work: &'static str) -> Self {
        SingleFlight {
            running: Mutex::new(HashMap::new()),
            work,
        }
    }
}

impl<K: Eq + Hash + Clone> SingleFlight<K> {
    /// Runs `work` unless `done` says the result already exists. Callers for the same
    /// key are serialized, and each re-checks `done` once it holds the key, so the
    /// work runs once however many callers raced for it.
    pub async fn run<T, E, D, DF, W, WF>(&self, key: &K, done: D, work: W) -> Result<Option<T>, E>
    where
        D: Fn() -> DF,
        DF: Future<Output = Result<bool, E>>,
        W: FnOnce() -> WF,
        WF: Future<Output = Result<T, E>>,
    {
        if done().await? {
            return Ok(None);
        }
        let mut registration = self.register(key);
        let lock = registration.lock.clone();
        let guard = if let Ok(guard) = lock.clone().try_lock_owned() {
            guard
        } else {
            crate::metrics::metrics().coalesced_wait(self.work);
            lock.lock_owned().await
        };
        registration.guard = Some(guard);
        if done().await? {
            Ok(None)
        } else {
            work().await.map(Some)
        }
    }

    fn register<'a>(&'a self, key: &'a K) -> Registration<'a, K> {
        let lock = self
            .running
            .lock()
            .unwrap()
            .entry(key.clone())
            .or_default()
            .clone();
        Registration {
            flight: self,
            key,
            lock,
            guard: None,
        }
    }
}

/// A caller's hold on a key, however its call ends (finished, failed, or dropped while
/// waiting or working): the last one out removes the key, so the map does not grow.
struct Registration<'a, K: Eq + Hash> {
    flight: &'a SingleFlight<K>,
    key: &'a K,
    lock: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<K: Eq + Hash> Drop for Registration<'_, K> {
    fn drop(&mut self) {
        // The guard holds a reference of its own: released first, so that the count
        // below is the map's and this caller's only.
        self.guard = None;
        let mut running = self.flight.running.lock().unwrap();
        if Arc::strong_count(&self.lock) == 2 {
            running.remove(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_callers_share_one_run() {
        let flight = Arc::new(SingleFlight::<String>::default());
        let built = Arc::new(AtomicBool::new(false));
        let runs = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (flight, built, runs) = (flight.clone(), built.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                let key = "acme/lib/1.0.0".to_string();
                flight
                    .run(
                        &key,
                        || {
                            let built = built.clone();
                            async move { Ok::<_, ()>(built.load(Ordering::SeqCst)) }
                        },
                        || async {
                            runs.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            built.store(true, Ordering::SeqCst);
                            Ok(())
                        },
                    )
                    .await
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(
            flight.running.lock().unwrap().is_empty(),
            "keys are cleaned up"
        );
    }

    #[tokio::test]
    async fn cancelled_callers_leave_no_key_behind() {
        let flight = Arc::new(SingleFlight::<u32>::default());
        let slow = || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, ()>(())
        };
        let working = {
            let flight = flight.clone();
            tokio::spawn(async move { flight.run(&1, || async { Ok(false) }, slow).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        // A waiter gives up, then the worker is cancelled.
        let waited = tokio::time::timeout(
            Duration::from_millis(20),
            flight.run(&1, || async { Ok(false) }, slow),
        )
        .await;
        assert!(waited.is_err(), "the waiter was still waiting");
        working.abort();
        let _ = working.await;
        assert!(flight.running.lock().unwrap().is_empty(), "a key leaked");
        // A failing `done` check leaves nothing either.
        let failed: Result<Option<()>, &str> = flight
            .run(&2, || async { Err("no database") }, || async { Ok(()) })
            .await;
        assert!(failed.is_err());
        assert!(flight.running.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn failures_are_returned_and_retried_by_the_next_caller() {
        let flight = SingleFlight::<u32>::default();
        let failed: Result<Option<()>, &str> = flight
            .run(&1, || async { Ok(false) }, || async { Err("boom") })
            .await;
        assert_eq!(failed, Err("boom"));
        let retried: Result<Option<u8>, &str> = flight
            .run(&1, || async { Ok(false) }, || async { Ok(7) })
            .await;
        assert_eq!(retried, Ok(Some(7)));
    }
}
