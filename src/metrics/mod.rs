//! Counters behind `/metrics` and `/api/health`.
//!
//! Everything is a relaxed atomic updated where the event happens (a
//! broadcast adds its recipient count once, not per recipient); a scrape reads
//! them and the room sizes, so it costs O(servers) and never waits on the
//! bot's event loop.

mod callbacks;
mod exposition;
mod histogram;

pub use callbacks::{timed_call, CallFailure, CallbackSnapshot, CallbackStats};
pub use exposition::{Exposition, Kind, Number, CONTENT_TYPE};
pub use histogram::{Histogram, HistogramSnapshot, BOUNDS};

use std::sync::atomic::{AtomicU64, Ordering};

/// The server's counters; shared by every run of one server, so they keep
/// counting across a stop and a new start.
#[derive(Debug, Default)]
pub struct Metrics {
    connections_open: AtomicU64,
    connections_total: AtomicU64,
    frames_sent: AtomicU64,
    events_dropped: AtomicU64,
    callbacks: CallbackStats,
}

/// Joined connections of one server (by mapping key).
pub type RoomSize<'a> = (&'a str, usize);

impl Metrics {
    pub fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// `count` frames were queued to WebSocket clients.
    pub fn frames_sent(&self, count: usize) {
        if count > 0 {
            self.frames_sent.fetch_add(count as u64, Ordering::Relaxed);
        }
    }

    /// A frame was dropped for a client whose queue was full; returns the total.
    pub fn event_dropped(&self) -> u64 {
        self.events_dropped.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Open WebSocket connections (joined or not).
    pub fn connections_open(&self) -> u64 {
        self.connections_open.load(Ordering::Relaxed)
    }

    pub fn events_dropped(&self) -> u64 {
        self.events_dropped.load(Ordering::Relaxed)
    }

    pub fn callbacks(&self) -> &CallbackStats {
        &self.callbacks
    }

    /// The scrape answer. `rooms` are the servers with joined connections.
    pub fn render(&self, version: &str, rooms: &[RoomSize<'_>]) -> String {
        let mut out = Exposition::new();
        out.family(
            "d_back_build_info",
            Kind::Gauge,
            "The running d-back version (always 1).",
        );
        out.sample("d_back_build_info", &[("version", version)], 1u64);
        out.family(
            "d_back_connections_open",
            Kind::Gauge,
            "Open WebSocket connections.",
        );
        out.sample("d_back_connections_open", &[], self.connections_open());
        out.family(
            "d_back_connections_total",
            Kind::Counter,
            "WebSocket connections accepted.",
        );
        let total = self.connections_total.load(Ordering::Relaxed);
        out.sample("d_back_connections_total", &[], total);
        out.family(
            "d_back_joined_clients",
            Kind::Gauge,
            "Connections joined to each Discord server.",
        );
        for (server, joined) in rooms {
            out.sample("d_back_joined_clients", &[("server", server)], *joined);
        }
        out.family(
            "d_back_frames_sent_total",
            Kind::Counter,
            "Frames queued to WebSocket clients.",
        );
        let frames = self.frames_sent.load(Ordering::Relaxed);
        out.sample("d_back_frames_sent_total", &[], frames);
        out.family(
            "d_back_events_dropped_total",
            Kind::Counter,
            "Broadcast frames dropped for clients too slow to take them.",
        );
        out.sample("d_back_events_dropped_total", &[], self.events_dropped());
        self.render_callbacks(&mut out);
        out.finish()
    }

    fn render_callbacks(&self, out: &mut Exposition) {
        let callbacks = self.callbacks.snapshot();
        let name = "d_back_callback_duration_seconds";
        out.family(
            name,
            Kind::Histogram,
            "Time the bot's callbacks took, failures and timeouts included.",
        );
        for stat in &callbacks {
            out.histogram(name, &[("callback", stat.callback.name())], &stat.duration);
        }
        let name = "d_back_callback_errors_total";
        out.family(
            name,
            Kind::Counter,
            "Callback calls that raised or returned bad data (error) or took too long (timeout).",
        );
        for stat in &callbacks {
            let callback = stat.callback.name();
            out.sample(
                name,
                &[("callback", callback), ("reason", "error")],
                stat.errors,
            );
            out.sample(
                name,
                &[("callback", callback), ("reason", "timeout")],
                stat.timeouts,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Callback;
    use std::time::Duration;

    #[test]
    fn scrape_lists_every_family_once_with_its_samples() {
        let metrics = Metrics::default();
        metrics.connection_opened();
        metrics.connection_opened();
        metrics.connection_closed();
        metrics.frames_sent(3);
        metrics.event_dropped();
        metrics.callbacks().observe(
            Callback::UserData,
            Duration::from_millis(2),
            &Err::<(), _>(CallFailure::Timeout(Duration::from_millis(2))),
        );
        let text = metrics.render("1.2.3", &[("1001", 2), ("we\"ird", 1)]);
        let lines: Vec<&str> = text.lines().collect();
        for expected in [
            "d_back_build_info{version=\"1.2.3\"} 1",
            "d_back_connections_open 1",
            "d_back_connections_total 2",
            "d_back_joined_clients{server=\"1001\"} 2",
            "d_back_joined_clients{server=\"we\\\"ird\"} 1",
            "d_back_frames_sent_total 3",
            "d_back_events_dropped_total 1",
            "d_back_callback_duration_seconds_bucket{callback=\"get_user_data\",le=\"0.0025\"} 1",
            "d_back_callback_duration_seconds_count{callback=\"get_user_data\"} 1",
            "d_back_callback_duration_seconds_count{callback=\"static_request\"} 0",
            "d_back_callback_errors_total{callback=\"get_user_data\",reason=\"timeout\"} 1",
            "d_back_callback_errors_total{callback=\"get_user_data\",reason=\"error\"} 0",
        ] {
            assert!(lines.contains(&expected), "missing {expected:?} in\n{text}");
        }
        let types: Vec<&str> = lines
            .iter()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .collect();
        assert_eq!(
            types,
            [
                "d_back_build_info gauge",
                "d_back_connections_open gauge",
                "d_back_connections_total counter",
                "d_back_joined_clients gauge",
                "d_back_frames_sent_total counter",
                "d_back_events_dropped_total counter",
                "d_back_callback_duration_seconds histogram",
                "d_back_callback_errors_total counter",
            ]
        );
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn no_rooms_means_a_family_without_samples() {
        let text = Metrics::default().render("0", &[]);
        assert!(
            text.contains("# TYPE d_back_joined_clients gauge\n# HELP d_back_frames_sent_total")
        );
    }
}
