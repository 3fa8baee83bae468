//! A connection's outbound queue, bounded by frame count and by bytes.

use futures_util::task::AtomicWaker;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// How much may wait for one slow client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    pub frames: usize,
    pub bytes: usize,
}

/// What the writer is to do next.
#[derive(Debug, PartialEq)]
pub enum Next<T> {
    /// Send these frames, oldest first.
    Frames(Vec<T>),
    /// Send this closing frame instead of whatever is still queued.
    Close(CloseFrame),
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
#[derive(Debug)]
pub struct Outbox {
    shared: Arc<Shared>,
}

/// The receiving side, drained by the connection's writer.
#[derive(Debug)]
pub struct Inbox {
    shared: Arc<Shared>,
}

/// One queue, shared by its senders and its single receiver. A plain
/// `VecDeque` behind a mutex: an idle connection's queue holds (almost) no
/// memory, where a channel keeps a block of slots allocated per connection.
#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    limits: QueueLimits,
    /// Wakes the single receiver: a frame was queued or the last sender left.
    /// Cheaper per frame than a `Notify`, which locks its list of waiters.
    readable: AtomicWaker,
    /// Wakes a sender waiting for room: a frame was taken or the receiver left.
    room: Notify,
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Message>,
    bytes: usize,
    /// Places promised to [`Slot`]s, counted against the frame bound.
    reserved: usize,
    senders: usize,
    receiver_gone: bool,
    /// A closing frame to send before anything still queued (boxed: it is
    /// rare, and the state an offer touches stays within one cache line).
    close: Option<Box<CloseFrame>>,
}

/// An empty queue keeps at most this many slots allocated (under 1 KiB): enough
/// for the frames that pile up between two writes on a busy server, which
/// would otherwise be allocated, grown and freed again every round of writes.
const KEEP_CAPACITY: usize = 16;

/// A new queue with the given bounds.
pub fn queue(limits: QueueLimits) -> (Outbox, Inbox) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            senders: 1,
            ..State::default()
        }),
        limits,
        readable: AtomicWaker::new(),
        room: Notify::new(),
    });
    let outbox = Outbox {
        shared: Arc::clone(&shared),
    };
    (outbox, Inbox { shared })
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn has_room(&self, state: &State) -> bool {
        state.frames.len() + state.reserved < self.limits.frames.max(1)
    }

    /// Queues `message`; the caller wakes the receiver once the lock is released.
    fn push(&self, state: &mut State, message: Message) {
        state.bytes += message.len();
        state.frames.push_back(message);
    }

    /// Takes the oldest frame; the caller tells waiting senders there is room.
    fn pop(&self, state: &mut State) -> Option<Message> {
        let message = state.frames.pop_front()?;
        state.bytes -= message.len();
        if state.frames.is_empty() && state.frames.capacity() > KEEP_CAPACITY {
            state.frames = VecDeque::new();
        }
        Some(message)
    }
}

impl Clone for Outbox {
    fn clone(&self) -> Self {
        self.shared.state().senders += 1;
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let last = {
            let mut state = self.shared.state();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            self.shared.readable.wake();
        }
    }
}

impl Outbox {
    /// Starts loading this queue's state into the cache, ahead of an
    /// [`Outbox::offer`]: a fan-out touches thousands of queues last written by
    /// other cores, and waiting for each in turn is most of its time.
    pub fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is only a hint; it never faults, whatever the address.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            // The lock and queue, and the waker's line that follows.
            let state: *const i8 = std::ptr::from_ref(&self.shared.state).cast();
            _mm_prefetch::<_MM_HINT_T0>(state);
            _mm_prefetch::<_MM_HINT_T0>(state.wrapping_add(64));
        }
    }

    /// Queues without waiting, unless either bound is reached.
    pub fn offer(&self, message: Message) -> Offer {
        let mut state = self.shared.state();
        if state.receiver_gone {
            return Offer::Closed;
        }
        let size = message.len();
        let over_bytes = state.bytes > 0 && state.bytes + size > self.shared.limits.bytes;
        if over_bytes || !self.shared.has_room(&state) {
            return Offer::Full;
        }
        self.shared.push(&mut state, message);
        drop(state);
        self.shared.readable.wake();
        Offer::Queued
    }

    /// Asks the writer to send `frame` next, ahead of the queue, and then stop;
    /// only the first request counts.
    pub fn request_close(&self, frame: CloseFrame) {
        let mut state = self.shared.state();
        if state.receiver_gone || state.close.is_some() {
            return;
        }
        state.close = Some(Box::new(frame));
        drop(state);
        self.shared.readable.wake();
    }

    /// Queues a reply to the client's own request, waiting for a free slot.
    /// Replies are never dropped, so they are not held to the byte bound.
    pub async fn send(&self, message: Message) -> bool {
        match self.reserve().await {
            Some(slot) => {
                slot.fill(message);
                true
            }
            None => false,
        }
    }

    /// Waits for a free slot, to be filled later with [`Slot::fill`].
    pub async fn reserve(&self) -> Option<Slot<'_>> {
        loop {
            let room = self.shared.room.notified();
            {
                let mut state = self.shared.state();
                if state.receiver_gone {
                    return None;
                }
                if self.shared.has_room(&state) {
                    state.reserved += 1;
                    return Some(Slot {
                        shared: &self.shared,
                        filled: false,
                    });
                }
            }
            room.await;
        }
    }
}

/// A reserved place in an [`Outbox`]; given back if dropped unfilled.
pub struct Slot<'a> {
    shared: &'a Shared,
    filled: bool,
}

impl Slot<'_> {
    pub fn fill(mut self, message: Message) {
        let mut state = self.shared.state();
        state.reserved -= 1;
        self.filled = true;
        if !state.receiver_gone {
            self.shared.push(&mut state, message);
            drop(state);
            self.shared.readable.wake();
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if !self.filled {
            self.shared.state().reserved -= 1;
            self.shared.room.notify_one();
        }
    }
}

impl Inbox {
    /// The next frame; `None` once every [`Outbox`] is gone and the queue is
    /// empty. The writer uses [`Inbox::next_batch`]; this is for tests.
    #[cfg(test)]
    pub async fn recv(&mut self) -> Option<Message> {
        match self.next_batch(1, Some).await? {
            Next::Frames(mut frames) => frames.pop(),
            Next::Close(frame) => Some(Message::Close(Some(frame))),
        }
    }

    /// The next frame if one is waiting (for tests).
    #[cfg(test)]
    pub fn try_recv(&mut self) -> Option<Message> {
        let mut state = self.shared.state();
        let message = self.shared.pop(&mut state)?;
        self.shared.room.notify_one();
        Some(message)
    }

    /// Waits for a closing frame or queued frames. A closing frame comes
    /// first; otherwise the oldest frame and up to `max - 1` more behind it are
    /// taken in one step, each turned into what the writer sends (`convert` may
    /// skip one). `None` once every [`Outbox`] is gone and the queue is empty.
    pub async fn next_batch<T>(
        &mut self,
        max: usize,
        mut convert: impl FnMut(Message) -> Option<T>,
    ) -> Option<Next<T>> {
        poll_fn(|cx| {
            // Registered before looking, so a frame queued meanwhile wakes us.
            self.shared.readable.register(cx.waker());
            let mut state = self.shared.state();
            if let Some(frame) = state.close.take() {
                return Poll::Ready(Some(Next::Close(*frame)));
            }
            let count = state.frames.len().min(max.max(1));
            if count == 0 {
                return if state.senders == 0 {
                    Poll::Ready(None)
                } else {
                    Poll::Pending
                };
            }
            let mut taken = Vec::with_capacity(count);
            for _ in 0..count {
                taken.extend(self.shared.pop(&mut state).and_then(&mut convert));
            }
            drop(state);
            self.shared.room.notify_one();
            Poll::Ready(Some(Next::Frames(taken)))
        })
        .await
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        let mut state = self.shared.state();
        state.receiver_gone = true;
        state.frames = VecDeque::new();
        state.bytes = 0;
        drop(state);
        self.shared.room.notify_waiters();
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
    async fn a_sender_waiting_for_room_learns_the_receiver_left() {
        let (outbox, inbox) = queue(QueueLimits {
            frames: 1,
            bytes: 64,
        });
        assert_eq!(outbox.offer(Message::text("a")), Offer::Queued);
        let sender = outbox.clone();
        let waiting = tokio::spawn(async move { sender.send(Message::text("b")).await });
        tokio::task::yield_now().await;
        drop(inbox);
        assert!(!waiting.await.expect("task"));
    }

    #[tokio::test]
    async fn reserved_slots_count_and_the_last_sender_ends_the_queue() {
        let (outbox, mut inbox) = queue(QueueLimits {
            frames: 2,
            bytes: 64,
        });
        let slot = outbox.reserve().await.expect("slot");
        assert_eq!(outbox.offer(Message::text("a")), Offer::Queued);
        assert_eq!(
            outbox.offer(Message::text("b")),
            Offer::Full,
            "one place is promised"
        );
        slot.fill(Message::text("join"));
        drop(outbox);
        assert_eq!(inbox.recv().await, Some(Message::text("a")));
        assert_eq!(inbox.recv().await, Some(Message::text("join")));
        assert_eq!(inbox.recv().await, None, "the last sender is gone");
    }

    #[tokio::test]
    async fn a_batch_is_at_most_max_frames_in_order_and_frees_their_room() {
        let (outbox, mut inbox) = queue(QueueLimits {
            frames: 3,
            bytes: 1 << 20,
        });
        for text in ["a", "b", "c"] {
            assert_eq!(outbox.offer(Message::text(text)), Offer::Queued);
        }
        assert_eq!(outbox.offer(Message::text("d")), Offer::Full);
        let texts = |m: Message| m.into_text().ok().map(|t| t.to_string());
        let batch =
            |texts: &[&str]| Some(Next::Frames(texts.iter().map(|t| t.to_string()).collect()));
        assert_eq!(inbox.next_batch(2, texts).await, batch(&["a", "b"]));
        assert_eq!(
            outbox.offer(Message::text("d")),
            Offer::Queued,
            "room again"
        );
        assert_eq!(inbox.next_batch(8, texts).await, batch(&["c", "d"]));
        drop(outbox);
        assert_eq!(
            inbox.next_batch(8, texts).await,
            None,
            "the last sender is gone"
        );
    }

    #[tokio::test]
    async fn a_close_request_goes_ahead_of_the_queue_once() {
        let (outbox, mut inbox) = queue(QueueLimits {
            frames: 4,
            bytes: 1 << 20,
        });
        assert_eq!(outbox.offer(Message::text("a")), Offer::Queued);
        let away = CloseFrame {
            code: 1001.into(),
            reason: "".into(),
        };
        outbox.request_close(away.clone());
        outbox.request_close(CloseFrame {
            code: 1011.into(),
            reason: "".into(),
        });
        assert_eq!(inbox.next_batch(8, Some).await, Some(Next::Close(away)));
        assert_eq!(
            inbox.next_batch(8, Some).await,
            Some(Next::Frames(vec![Message::text("a")])),
            "the later request is ignored"
        );
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
