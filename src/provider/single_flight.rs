//! Concurrent identical requests share one call in flight. Nothing is kept
//! once that call ends: the next request calls again (a bot's data changes).

use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::oneshot;

type Waiters<T> = Vec<oneshot::Sender<T>>;

/// One in-flight call at a time; requests arriving meanwhile wait for its result.
pub struct SingleFlight<T> {
    waiters: Mutex<Option<Waiters<T>>>,
}

impl<T> Default for SingleFlight<T> {
    fn default() -> Self {
        Self {
            waiters: Mutex::new(None),
        }
    }
}

impl<T: Clone> SingleFlight<T> {
    /// Runs `call`, or waits for the one already running and returns a copy of
    /// its result. If that call is abandoned (its caller stopped waiting), the
    /// waiters try again.
    pub async fn run<F, Fut>(&self, call: F) -> T
    where
        F: Fn() -> Fut,
        Fut: Future<Output = T>,
    {
        loop {
            let follower = {
                let mut waiters = self.lock();
                match waiters.as_mut() {
                    Some(list) => {
                        let (tx, rx) = oneshot::channel();
                        list.push(tx);
                        Some(rx)
                    }
                    None => {
                        *waiters = Some(Vec::new());
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

    fn lock(&self) -> MutexGuard<'_, Option<Waiters<T>>> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The running call; if it is dropped unfinished, its waiters are released.
struct Lead<'a, T: Clone> {
    flight: &'a SingleFlight<T>,
    done: bool,
}

impl<T: Clone> Lead<'_, T> {
    fn finish(mut self) -> Waiters<T> {
        self.done = true;
        self.flight.lock().take().unwrap_or_default()
    }
}

impl<T: Clone> Drop for Lead<'_, T> {
    fn drop(&mut self) {
        if !self.done {
            // Dropping the senders wakes the waiters, who then try again.
            self.flight.lock().take();
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
        let flight = Arc::new(SingleFlight::<usize>::default());
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
                tokio::spawn(async move { flight.run(call).await })
            })
            .collect();
        while flight.lock().as_ref().map_or(0, Vec::len) < 4 {
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
            async move { flight.run(call).await }
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
        let flight = Arc::new(SingleFlight::<&'static str>::default());
        let leader = tokio::spawn({
            let flight = Arc::clone(&flight);
            async move { flight.run(std::future::pending::<&'static str>).await }
        });
        while flight.lock().is_none() {
            tokio::task::yield_now().await;
        }
        let follower = tokio::spawn({
            let flight = Arc::clone(&flight);
            async move { flight.run(|| async { "own call" }).await }
        });
        while flight.lock().as_ref().map_or(0, Vec::len) < 1 {
            tokio::task::yield_now().await;
        }
        leader.abort();
        assert_eq!(follower.await.expect("task"), "own call");
    }
}
