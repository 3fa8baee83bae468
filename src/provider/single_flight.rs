//! Concurrent identical requests share one call in flight. Nothing is kept
//! once that call ends: the next request calls again (a bot's data changes).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::oneshot;

type Waiters<T> = Vec<oneshot::Sender<T>>;

/// At most one call in flight per key; requests for that key arriving
/// meanwhile wait for its result.
pub struct SingleFlight<K, T> {
    in_flight: Mutex<HashMap<K, Waiters<T>>>,
}

impl<K, T> Default for SingleFlight<K, T> {
    fn default() -> Self {
        Self {
            in_flight: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Clone, T: Clone> SingleFlight<K, T> {
    /// Runs `call`, or waits for the one already running for `key` and returns
    /// a copy of its result. If that call is abandoned (its caller stopped
    /// waiting), the waiters try again.
    pub async fn run<F, Fut>(&self, key: &K, call: F) -> T
    where
        F: Fn() -> Fut,
        Fut: Future<Output = T>,
    {
        loop {
            let follower = {
                let mut in_flight = self.lock();
                match in_flight.get_mut(key) {
                    Some(waiters) => {
                        let (tx, rx) = oneshot::channel();
                        waiters.push(tx);
                        Some(rx)
                    }
                    None => {
                        in_flight.insert(key.clone(), Vec::new());
                        None
                    }
                }
            };
            match follower {
                Some(result) => match result.await {
                    Ok(value) => return value,
                    Err(_) => continue,
                },
                None => {
                    let lead = Lead {
                        flight: self,
                        key,
                        done: false,
                    };
                    let value = call().await;
                    for waiter in lead.finish() {
                        let _ = waiter.send(value.clone());
                    }
                    return value;
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Waiters<T>>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The running call; if it is dropped unfinished, its waiters are released.
struct Lead<'a, K: Hash + Eq + Clone, T: Clone> {
    flight: &'a SingleFlight<K, T>,
    key: &'a K,
    done: bool,
}

impl<K: Hash + Eq + Clone, T: Clone> Lead<'_, K, T> {
    fn finish(mut self) -> Waiters<T> {
        self.done = true;
        self.flight.lock().remove(self.key).unwrap_or_default()
    }
}

impl<K: Hash + Eq + Clone, T: Clone> Drop for Lead<'_, K, T> {
    fn drop(&mut self) {
        if !self.done {
            // Dropping the senders wakes the waiters, who then try again.
            self.flight.lock().remove(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::sync::Notify;

    #[tokio::test]
    async fn overlapping_requests_share_one_call_and_later_ones_call_again() {
        let flight = Arc::new(SingleFlight::<(), usize>::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Notify::new());
        let call = {
            let (calls, release) = (Arc::clone(&calls), Arc::clone(&release));
            move || {
                let (calls, release) = (Arc::clone(&calls), Arc::clone(&release));
                async move {
                    let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                    release.notified().await;
                    n
                }
            }
        };
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let (flight, call) = (Arc::clone(&flight), call.clone());
                tokio::spawn(async move { flight.run(&(), call).await })
            })
            .collect();
        while flight.lock().get(&()).map_or(0, Vec::len) < 4 {
            tokio::task::yield_now().await;
        }
        release.notify_one();
        for task in tasks {
            assert_eq!(
                task.await.expect("task"),
                1,
                "all five got the one call's result"
            );
        }
        let again = tokio::spawn({
            let flight = Arc::clone(&flight);
            async move { flight.run(&(), call).await }
        });
        while calls.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        release.notify_one();
        assert_eq!(
            again.await.expect("task"),
            2,
            "nothing is cached after the call"
        );
    }

    #[tokio::test]
    async fn waiters_take_over_when_the_leader_gives_up() {
        let flight = Arc::new(SingleFlight::<(), &'static str>::default());
        let leader = tokio::spawn({
            let flight = Arc::clone(&flight);
            async move { flight.run(&(), std::future::pending::<&'static str>).await }
        });
        while flight.lock().is_empty() {
            tokio::task::yield_now().await;
        }
        let follower = tokio::spawn({
            let flight = Arc::clone(&flight);
            async move { flight.run(&(), || async { "own call" }).await }
        });
        while flight.lock().get(&()).map_or(0, Vec::len) < 1 {
            tokio::task::yield_now().await;
        }
        leader.abort();
        assert_eq!(follower.await.expect("task"), "own call");
    }

    #[tokio::test]
    async fn different_keys_do_not_share() {
        let flight = SingleFlight::<&'static str, &'static str>::default();
        let (a, b) = tokio::join!(
            flight.run(&"a", || async { "A" }),
            flight.run(&"b", || async { "B" })
        );
        assert_eq!((a, b), ("A", "B"));
    }
}
