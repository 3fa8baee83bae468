//! Broadcasts handed to the fan-out thread and not yet sent. A join waits for
//! them before it switches the connection's room, so every broadcast reaches
//! the members of its room as they were when it was called; a browser moving
//! to another server still gets what was called for its old one and nothing
//! called for the new one before it got there.

use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

#[derive(Default)]
pub(super) struct QueuedBroadcasts {
    /// Broadcasts accepted into the fan-out queue so far.
    queued: AtomicU64,
    /// Of those, how many have gone out (in queue order).
    sent: AtomicU64,
    progress: Notify,
}

impl QueuedBroadcasts {
    /// One more broadcast is in the queue (call in queue order).
    pub(super) fn queued(&self) {
        self.queued.fetch_add(1, Ordering::SeqCst);
    }

    /// The oldest queued broadcast has gone out.
    pub(super) fn sent(&self) {
        self.sent.fetch_add(1, Ordering::SeqCst);
        self.progress.notify_waiters();
    }

    /// Resolves once every broadcast queued before the call has gone out.
    pub(super) async fn all_sent(&self) {
        let target = self.queued.load(Ordering::SeqCst);
        loop {
            let progress = self.progress.notified();
            if self.sent.load(Ordering::SeqCst) >= target {
                return;
            }
            progress.await;
        }
    }
}
