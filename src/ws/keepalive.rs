//! Keepalive: a ping every `ping_interval`, and the connection closes with 1011
//! once nothing has been heard from the peer for `ping_interval + ping_timeout`.
//!
//! The reader runs it: it hears every frame, and it is idle while broadcasts go
//! out, so the writer's work per frame involves no timer. Pings go out through
//! the connection's queue.

use super::config::WsConfig;
use std::time::Duration;
use tokio::time::{interval_at, Instant, Interval, MissedTickBehavior};

pub(super) struct Keepalive {
    ticks: Interval,
    last_heard: Instant,
    dead_after: Duration,
}

/// What a keepalive tick asks for.
pub(super) enum Due {
    Ping,
    /// The peer has been silent too long.
    Dead,
}

impl Keepalive {
    pub(super) fn new(config: &WsConfig) -> Self {
        let period = config.ping_interval;
        let now = Instant::now();
        let mut ticks = interval_at(now + period, period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            ticks,
            last_heard: now,
            dead_after: period + config.ping_timeout,
        }
    }

    /// A frame arrived from the peer.
    pub(super) fn heard(&mut self) {
        self.last_heard = Instant::now();
    }

    /// Waits for the next tick.
    pub(super) async fn next(&mut self) -> Due {
        self.ticks.tick().await;
        if self.last_heard.elapsed() > self.dead_after {
            Due::Dead
        } else {
            Due::Ping
        }
    }
}
