//! A connection's outbound queue, bounded by frame count and by bytes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// How much may wait for one slow client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    pub frames: usize,
    pub bytes: usize,
}

/// What happened to an offered frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    Queued,
    /// The client is too far behind; this frame is dropped for it.
    Full,
    /// The connection is gone.
    Closed,
}

/// The sending side; cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Message>,
    queued_bytes: Arc<AtomicUsize>,
    max_bytes: usize,
}

/// The receiving side, drained by the connection's writer.
#[derive(Debug)]
pub struct Inbox {
    rx: mpsc::Receiver<Message>,
    queued_bytes: Arc<AtomicUsize>,
}

/// A new queue with the given bounds.
pub fn queue(limits: QueueLimits) -> (Outbox, Inbox) {
    let (tx, rx) = mpsc::channel(limits.frames.max(1));
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    let outbox = Outbox {
        tx,
        queued_bytes: Arc::clone(&queued_bytes),
        max_bytes: limits.bytes,
    };
    (outbox, Inbox { rx, queued_bytes })
}

impl Outbox {
    /// Queues without waiting, unless either bound is reached.
    pub fn offer(&self, message: Message) -> Offer {
        let size = message.len();
        let queued = self.queued_bytes.fetch_add(size, Ordering::Relaxed);
        if queued > 0 && queued + size > self.max_bytes {
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            return Offer::Full;
        }
        match self.tx.try_send(message) {
            Ok(()) => Offer::Queued,
            Err(error) => {
                self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
                match error {
                    mpsc::error::TrySendError::Full(_) => Offer::Full,
                    mpsc::error::TrySendError::Closed(_) => Offer::Closed,
                }
            }
        }
    }

    /// Queues a reply to the client's own request, waiting for a free slot.
    /// Replies are never dropped, so they are not held to the byte bound.
    pub async fn send(&self, message: Message) -> bool {
        let Ok(permit) = self.tx.reserve().await else {
            return false;
        };
        self.queued_bytes
            .fetch_add(message.len(), Ordering::Relaxed);
        permit.send(message);
        true
    }

    /// Waits for a free slot, to be filled later with [`Slot::fill`].
    pub async fn reserve(&self) -> Option<Slot<'_>> {
        let permit = self.tx.reserve().await.ok()?;
        Some(Slot {
            permit,
            queued_bytes: &self.queued_bytes,
        })
    }
}

/// A reserved place in an [`Outbox`].
pub struct Slot<'a> {
    permit: mpsc::Permit<'a, Message>,
    queued_bytes: &'a AtomicUsize,
}

impl Slot<'_> {
    pub fn fill(self, message: Message) {
        self.queued_bytes
            .fetch_add(message.len(), Ordering::Relaxed);
        self.permit.send(message);
    }
}

impl Inbox {
    /// The next frame; `None` once every [`Outbox`] is gone.
    pub async fn recv(&mut self) -> Option<Message> {
        let message = self.rx.recv().await?;
        self.queued_bytes
            .fetch_sub(message.len(), Ordering::Relaxed);
        Some(message)
    }

    /// The next frame if one is waiting.
    pub fn try_recv(&mut self) -> Option<Message> {
        let message = self.rx.try_recv().ok()?;
        self.queued_bytes
            .fetch_sub(message.len(), Ordering::Relaxed);
        Some(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn byte_bound_drops_but_always_admits_one_frame() {
        let (outbox, mut inbox) = queue(QueueLimits {
            frames: 10,
            bytes: 8,
        });
        assert_eq!(
            outbox.offer(Message::text("0123456789")),
            Offer::Queued,
            "an empty queue takes any frame"
        );
        assert_eq!(outbox.offer(Message::text("x")), Offer::Full);
        assert_eq!(inbox.recv().await.map(|m| m.len()), Some(10));
        assert_eq!(outbox.offer(Message::text("1234")), Offer::Queued);
        assert_eq!(outbox.offer(Message::text("5678")), Offer::Queued);
        assert_eq!(outbox.offer(Message::text("9")), Offer::Full);
    }

    #[tokio::test]
    async fn frame_bound_drops() {
        let (outbox, _inbox) = queue(QueueLimits {
            frames: 1,
            bytes: 1 << 20,
        });
        assert_eq!(outbox.offer(Message::text("a")), Offer::Queued);
        assert_eq!(outbox.offer(Message::text("b")), Offer::Full);
    }

    #[tokio::test]
    async fn replies_wait_instead_of_dropping() {
        let (outbox, mut inbox) = queue(QueueLimits {
            frames: 1,
            bytes: 1,
        });
        assert_eq!(outbox.offer(Message::text("first")), Offer::Queued);
        let sender = outbox.clone();
        let reply = tokio::spawn(async move { sender.send(Message::text("reply")).await });
        assert_eq!(inbox.recv().await, Some(Message::text("first")));
        assert!(reply.await.expect("task"));
        assert_eq!(inbox.recv().await, Some(Message::text("reply")));
    }

    #[tokio::test]
    async fn closed_when_inbox_is_gone() {
        let (outbox, inbox) = queue(QueueLimits {
            frames: 4,
            bytes: 64,
        });
        drop(inbox);
        assert_eq!(outbox.offer(Message::text("a")), Offer::Closed);
        assert!(!outbox.send(Message::text("b")).await);
    }
}
