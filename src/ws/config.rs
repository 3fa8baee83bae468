//! Per-connection limits and timers.

use crate::hub::QueueLimits;
use std::time::Duration;

/// Settings shared by every WebSocket connection of one server.
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Largest incoming message; bigger ones close the connection with 1009.
    pub max_message_size: usize,
    /// Largest incoming frame (a fragment of a message).
    pub max_frame_size: usize,
    /// Outbound frames waiting for a slow client before new ones are dropped.
    pub queue_frames: usize,
    /// Outbound bytes waiting for a slow client before new frames are dropped.
    pub queue_bytes: usize,
    /// How often an idle connection is pinged.
    pub ping_interval: Duration,
    /// How long a ping may go unanswered before the connection closes with 1011.
    pub ping_timeout: Duration,
    /// How long a closing handshake may take before the socket is dropped.
    pub close_timeout: Duration,
    /// How long a socket may stay open without a successful `connect`; `None`
    /// waits forever (the d-zone page defers its join until a Discord login).
    pub join_timeout: Option<Duration>,
    /// How long one provider (callback) call may take.
    pub callback_timeout: Duration,
    /// Time between mock presence events for a joined connection.
    pub mock_presence_interval: Duration,
    /// Time between mock chat events for a joined connection.
    pub mock_message_interval: Duration,
    /// Echo every text and binary message instead of speaking the d-back
    /// protocol. Only for WebSocket conformance runs (`examples/conformance_echo.rs`);
    /// the Python package never sets it.
    pub echo: bool,
}

impl Default for WsConfig {
    /// The defaults of the Python `websockets` library upstream relied on, and
    /// upstream's mock event timing.
    fn default() -> Self {
        Self {
            max_message_size: 1 << 20,
            max_frame_size: 1 << 20,
            queue_frames: 256,
            queue_bytes: 1 << 20,
            ping_interval: Duration::from_secs(20),
            ping_timeout: Duration::from_secs(20),
            close_timeout: Duration::from_secs(10),
            join_timeout: None,
            callback_timeout: Duration::from_secs(10),
            mock_presence_interval: Duration::from_secs(4),
            mock_message_interval: Duration::from_secs(5),
            echo: false,
        }
    }
}

impl WsConfig {
    /// Bounds of each connection's outbound queue.
    pub fn queue_limits(&self) -> QueueLimits {
        QueueLimits {
            frames: self.queue_frames,
            bytes: self.queue_bytes,
        }
    }

    /// Whether a connection's first frame is the `server-list` (not in echo mode).
    pub fn sends_server_list(&self) -> bool {
        !self.echo
    }
}
