//! Broadcasts handed off to a task of their own, so the caller (the bot's
//! asyncio loop) only pays for queueing one frame, whatever the audience.

use super::Hub;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Broadcasts waiting for the fan-out task before new ones are refused.
pub const BACKLOG: usize = 4096;

/// The queue in front of one fan-out task; frames go out in submission order.
#[derive(Clone)]
pub struct Fanout {
    hub: Arc<Hub>,
    queue: mpsc::Sender<(Arc<str>, Utf8Bytes)>,
    /// Makes "accepted into the queue" and "counted as queued" one step, so
    /// the count follows the queue's order across concurrent callers.
    submitting: Arc<Mutex<()>>,
}

/// Why a broadcast was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The fan-out task is [`BACKLOG`] broadcasts behind.
    Backlogged,
    /// The fan-out task has stopped (its runtime is shutting down).
    Stopped,
}

impl Fanout {
    /// Starts the fan-out task for `hub` on the current tokio runtime.
    pub fn spawn(hub: Arc<Hub>, runtime: &tokio::runtime::Handle) -> Self {
        let (queue, mut pending) = mpsc::channel::<(Arc<str>, Utf8Bytes)>(BACKLOG);
        let worker_hub = Arc::clone(&hub);
        runtime.spawn(async move {
            while let Some((key, frame)) = pending.recv().await {
                worker_hub.broadcast(&key, frame);
                worker_hub.queued.sent();
            }
        });
        Self {
            hub,
            queue,
            submitting: Arc::default(),
        }
    }

    /// Queues `frame` for everyone joined to `key`; returns how many are joined
    /// right now (the frame reaches those still joined when it goes out).
    pub fn submit(&self, key: &str, frame: impl Into<Utf8Bytes>) -> Result<usize, Refused> {
        let audience = self.hub.room_len(key);
        if audience == 0 {
            return Ok(0);
        }
        let _in_order = self.submitting.lock().unwrap_or_else(|e| e.into_inner());
        match self.queue.try_send((Arc::from(key), frame.into())) {
            Ok(()) => {
                self.hub.queued.queued();
                Ok(audience)
            }
            Err(mpsc::error::TrySendError::Full(_)) => Err(Refused::Backlogged),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Refused::Stopped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::QueueLimits;
    use std::net::SocketAddr;
    use tokio_tungstenite::tungstenite::Message;

    #[tokio::test]
    async fn broadcasts_go_out_in_order_off_the_callers_thread() {
        let hub = Arc::new(Hub::new());
        let addr: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let (id, outbox, mut inbox) = hub.register(
            addr,
            QueueLimits {
                frames: 64,
                bytes: 1 << 20,
            },
        );
        let slot = outbox.reserve().await.expect("slot");
        hub.join(id, "k", "k".to_owned(), slot, "join".to_owned());
        let fanout = Fanout::spawn(Arc::clone(&hub), &tokio::runtime::Handle::current());
        assert_eq!(fanout.submit("nobody", "x"), Ok(0));
        for n in 0..10 {
            assert_eq!(fanout.submit("k", n.to_string()), Ok(1));
        }
        assert_eq!(inbox.recv().await, Some(Message::text("join")));
        for n in 0..10 {
            assert_eq!(inbox.recv().await, Some(Message::text(n.to_string())));
        }
    }

    #[tokio::test]
    async fn a_join_waits_for_broadcasts_called_before_it() {
        let hub = Arc::new(Hub::new());
        let addr: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let limits = QueueLimits {
            frames: 64,
            bytes: 1 << 20,
        };
        let (id, outbox, mut inbox) = hub.register(addr, limits);
        let slot = outbox.reserve().await.expect("slot");
        hub.join(id, "old", "old".to_owned(), slot, "join old".to_owned());
        let fanout = Fanout::spawn(Arc::clone(&hub), &tokio::runtime::Handle::current());
        // Called while the client is still in "old"; the fan-out task has not run yet.
        assert_eq!(fanout.submit("old", "still old"), Ok(1));
        assert_eq!(fanout.submit("new", "too early"), Ok(0));
        hub.queued_broadcasts_sent().await;
        let slot = outbox.reserve().await.expect("slot");
        hub.join(id, "new", "new".to_owned(), slot, "join new".to_owned());
        assert_eq!(fanout.submit("new", "now"), Ok(1));
        for expected in ["join old", "still old", "join new", "now"] {
            assert_eq!(inbox.recv().await, Some(Message::text(expected)));
        }
    }
}
