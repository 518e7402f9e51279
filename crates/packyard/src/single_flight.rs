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
        let lock = self
            .running
            .lock()
            .unwrap()
            .entry(key.clone())
            .or_default()
            .clone();
        let guard = if let Ok(guard) = lock.try_lock() {
            guard
        } else {
            crate::metrics::metrics().coalesced_wait(self.work);
            lock.lock().await
        };
        let result = if done().await? {
            Ok(None)
        } else {
            work().await.map(Some)
        };
        drop(guard);
        let mut running = self.running.lock().unwrap();
        // The last one out removes the key, so the map does not grow forever.
        if Arc::strong_count(&lock) == 2 {
            running.remove(key);
        }
        result
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
