//! Who is connected, who is joined where, and fan-out of pre-encoded frames.
//!
//! Every connection owns a bounded outbound queue drained by its writer task. A
//! broadcast is encoded once; each recipient gets a reference-counted clone of
//! the same bytes. A full queue drops that client's copy (counted) instead of
//! stalling the broadcaster or growing memory.

mod fanout;
mod outbox;
mod queued;

pub use fanout::{Fanout, Refused, BACKLOG};
pub use outbox::{queue, Inbox, Next, Offer, Outbox, QueueLimits, Slot};

use crate::metrics::{Metrics, RoomSize};
use queued::QueuedBroadcasts;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// How many queues ahead a broadcast starts loading into the cache.
const PREFETCH_AHEAD: usize = 4;

/// Identifies one WebSocket connection for its whole life.
pub type ConnId = u64;

/// What the outside world may know about a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    pub id: ConnId,
    pub remote: SocketAddr,
    /// Mapping key of the joined server, once joined.
    pub server_key: Option<Arc<str>>,
    /// The id the client asked for when it joined (e.g. `"default"`).
    pub server_id: Option<String>,
}

struct Member {
    outbox: Outbox,
    info: ConnectionInfo,
}

#[derive(Default)]
struct State {
    members: HashMap<ConnId, Member>,
    /// Joined connections per server key; a subset of `members`.
    rooms: HashMap<Arc<str>, HashMap<ConnId, Outbox>>,
}

/// The registry of open WebSocket connections.
#[derive(Default)]
pub struct Hub {
    state: RwLock<State>,
    next_id: AtomicU64,
    metrics: Metrics,
    /// What the fan-out thread has yet to send.
    queued: QueuedBroadcasts,
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a connection and returns its id and both ends of its queue.
    pub fn register(&self, remote: SocketAddr, limits: QueueLimits) -> (ConnId, Outbox, Inbox) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (outbox, inbox) = queue(limits);
        let info = ConnectionInfo {
            id,
            remote,
            server_key: None,
            server_id: None,
        };
        self.write().members.insert(
            id,
            Member {
                outbox: outbox.clone(),
                info,
            },
        );
        self.metrics.connection_opened();
        (id, outbox, inbox)
    }

    /// Removes a connection from the registry and from its room.
    pub fn unregister(&self, id: ConnId) {
        let mut state = self.write();
        if let Some(member) = state.members.remove(&id) {
            self.metrics.connection_closed();
            if let Some(key) = member.info.server_key {
                leave_room(&mut state, &key, id);
            }
        }
    }

    /// Resolves once every broadcast handed to the fan-out thread before the call
    /// has gone out; a join awaits it before [`Hub::join`].
    pub async fn queued_broadcasts_sent(&self) {
        self.queued.all_sent().await;
    }

    /// Moves a connection into the room `key` and enqueues its `server-join`
    /// frame in the same step, so no broadcast for the new room can reach the
    /// client before it. `slot` is a place reserved in the connection's queue.
    pub fn join(
        &self,
        id: ConnId,
        key: &str,
        server_id: String,
        slot: Slot<'_>,
        server_join: String,
    ) {
        let mut state = self.write();
        let Some(member) = state.members.get_mut(&id) else {
            return;
        };
        let outbox = member.outbox.clone();
        let old_key = member.info.server_key.take();
        let key: Arc<str> = Arc::from(key);
        member.info.server_key = Some(Arc::clone(&key));
        member.info.server_id = Some(server_id);
        slot.fill(Message::text(server_join));
        self.metrics.frames_sent(1);
        if let Some(old_key) = old_key {
            leave_room(&mut state, &old_key, id);
        }
        state.rooms.entry(key).or_default().insert(id, outbox);
    }

    /// Queues `frame` to every connection joined to `key`; returns how many got it.
    pub fn broadcast(&self, key: &str, frame: impl Into<Utf8Bytes>) -> usize {
        let frame: Utf8Bytes = frame.into();
        let state = self.read();
        let Some(room) = state.rooms.get(key) else {
            return 0;
        };
        let mut delivered = 0;
        let mut ahead = room.values().skip(PREFETCH_AHEAD);
        for outbox in room.values() {
            if let Some(next) = ahead.next() {
                next.prefetch();
            }
            if self.queue_or_drop(outbox, Message::Text(frame.clone())) {
                delivered += 1;
            }
        }
        self.metrics.frames_sent(delivered);
        delivered
    }

    /// Queues `frame` to one connection; false if it is gone or its queue is full.
    pub fn send_to(&self, id: ConnId, frame: impl Into<Utf8Bytes>) -> bool {
        let outbox = match self.read().members.get(&id) {
            Some(member) => member.outbox.clone(),
            None => return false,
        };
        self.offer(&outbox, Message::Text(frame.into()))
    }

    /// Queues without waiting: a client that cannot keep up loses this frame.
    pub fn offer(&self, outbox: &Outbox, message: Message) -> bool {
        let queued = self.queue_or_drop(outbox, message);
        if queued {
            self.metrics.frames_sent(1);
        }
        queued
    }

    /// Queues a reply to a client's own request, waiting for room in its queue
    /// (replies are never dropped); false if the connection is gone.
    pub async fn reply(&self, outbox: &Outbox, message: Message) -> bool {
        let queued = outbox.send(message).await;
        if queued {
            self.metrics.frames_sent(1);
        }
        queued
    }

    /// [`Hub::offer`] without counting the frame as sent (a broadcast counts
    /// its recipients once).
    fn queue_or_drop(&self, outbox: &Outbox, message: Message) -> bool {
        match outbox.offer(message) {
            Offer::Queued => true,
            Offer::Full => {
                let dropped = self.metrics.event_dropped();
                // Rate-limited: the 1st, 2nd, 4th, 8th, ... drop is logged.
                if dropped.is_power_of_two() {
                    tracing::warn!(dropped, "slow WebSocket client: events dropped");
                }
                false
            }
            Offer::Closed => false,
        }
    }

    /// Number of open WebSocket connections (joined or not).
    pub fn len(&self) -> usize {
        self.read().members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of connections joined to `key`.
    pub fn room_len(&self, key: &str) -> usize {
        self.read().rooms.get(key).map_or(0, HashMap::len)
    }

    /// Events dropped so far because a client's queue was full.
    pub fn dropped(&self) -> u64 {
        self.metrics.events_dropped()
    }

    /// The server's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The scrape answer: the counters plus how many are joined per server.
    /// Room keys are mapping keys of the provider's server list (a `connect`
    /// names an entry by its `id`, never the key), so clients cannot add series.
    pub fn render_metrics(&self, version: &str) -> String {
        let rooms: Vec<(Arc<str>, usize)> = self
            .read()
            .rooms
            .iter()
            .map(|(key, room)| (Arc::clone(key), room.len()))
            .collect();
        let rooms: Vec<RoomSize<'_>> = rooms.iter().map(|(key, n)| (&**key, *n)).collect();
        self.metrics.render(version, &rooms)
    }

    /// A snapshot of every open connection.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.read()
            .members
            .values()
            .map(|m| m.info.clone())
            .collect()
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps inconsistent
        // (every update is a single insert/remove), so poisoning is ignored.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn leave_room(state: &mut State, key: &str, id: ConnId) {
    if let Some(room) = state.rooms.get_mut(key) {
        room.remove(&id);
        if room.is_empty() {
            state.rooms.remove(key);
        }
    }
}

#[cfg(test)]
mod tests;
