//! `fanout`: joined clients count the broadcast `message` frames, their latency
//! from the broadcast call, their lag behind schedule, and lost sequence numbers.

use crate::args::Args;
use crate::client::{self, Ws};
use crate::join::{self, round3};
use crate::stats::{self, unix_ns};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Sequence numbers beyond this are not tracked in `lag_max_by_seq_ms`.
const MAX_TRACKED_SEQ: usize = 100_000;

/// Per client: the highest sequence number seen and how many distinct ones.
#[derive(Clone, Copy)]
struct ClientCount {
    /// Highest `seq` + 1 (0: nothing yet).
    next: u64,
    unique: u64,
}

struct Delivery {
    latency_us: RefCell<Histogram<u64>>,
    lag_us: RefCell<Histogram<u64>>,
    per_client: RefCell<Vec<ClientCount>>,
    frames: Cell<u64>,
    other_frames: Cell<u64>,
    out_of_order: Cell<u64>,
    gaps: Cell<u64>,
    disconnected: Cell<usize>,
    first_ns: Cell<u64>,
    last_ns: Cell<u64>,
    /// Largest lag seen per sequence number: shows whether lag builds up.
    lag_max_by_seq_us: RefCell<Vec<u64>>,
}

impl Delivery {
    fn new(clients: usize) -> Self {
        Self {
            latency_us: RefCell::new(stats::histogram()),
            lag_us: RefCell::new(stats::histogram()),
            per_client: RefCell::new(vec![ClientCount { next: 0, unique: 0 }; clients]),
            frames: Cell::new(0),
            other_frames: Cell::new(0),
            out_of_order: Cell::new(0),
            gaps: Cell::new(0),
            disconnected: Cell::new(0),
            first_ns: Cell::new(0),
            last_ns: Cell::new(0),
            lag_max_by_seq_us: RefCell::new(Vec::new()),
        }
    }

    /// The hot path: one received text frame.
    fn on_text(&self, index: usize, text: &str) {
        let now = unix_ns();
        let Some((seq, scheduled, called)) = client::parse_seq(text) else {
            self.other_frames.set(self.other_frames.get() + 1);
            return;
        };
        self.frames.set(self.frames.get() + 1);
        if self.first_ns.get() == 0 {
            self.first_ns.set(now);
        }
        self.last_ns.set(now);
        let latency = now.saturating_sub(called) / 1000;
        let lag = now.saturating_sub(scheduled) / 1000;
        self.latency_us
            .borrow_mut()
            .saturating_record(latency.max(1));
        self.lag_us.borrow_mut().saturating_record(lag.max(1));
        if let Ok(at) = usize::try_from(seq) {
            let mut by_seq = self.lag_max_by_seq_us.borrow_mut();
            if at < MAX_TRACKED_SEQ {
                if by_seq.len() <= at {
                    by_seq.resize(at + 1, 0);
                }
                by_seq[at] = by_seq[at].max(lag);
            }
        }
        let mut per_client = self.per_client.borrow_mut();
        let count = &mut per_client[index];
        if seq >= count.next {
            self.gaps.set(self.gaps.get() + (seq - count.next));
            count.next = seq + 1;
            count.unique += 1;
        } else {
            self.out_of_order.set(self.out_of_order.get() + 1);
        }
    }

    fn complete(&self, expected: u64) -> usize {
        self.per_client
            .borrow()
            .iter()
            .filter(|c| c.next >= expected)
            .count()
    }
}

async fn read_frames(index: usize, mut ws: Ws, delivery: Rc<Delivery>) {
    while let Some(item) = ws.next().await {
        match item {
            Ok(Message::Text(text)) => delivery.on_text(index, text.as_str()),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    delivery.disconnected.set(delivery.disconnected.get() + 1);
}

/// The number of broadcasts the driver says were issued, once it says so.
fn read_done_file(args: &Args) -> Option<u64> {
    let text = std::fs::read_to_string(args.done_file.as_ref()?).ok()?;
    text.trim().parse().ok()
}

pub async fn fanout(args: &Args) -> Result<Value, String> {
    let delivery = Rc::new(Delivery::new(args.clients));
    let (progress, join_timed_out) = {
        let delivery = Rc::clone(&delivery);
        join::join_all(args, move |index, ws| {
            read_frames(index, ws, Rc::clone(&delivery))
        })
        .await
    };
    let joined = progress.joined.get();
    join::signal_ready(args, &progress);

    let mut expected = (args.rate * args.seconds).round() as u64;
    let mut expected_final = args.done_file.is_none();
    let ready = Instant::now();
    let drain_ns = args.drain.as_nanos() as u64;
    let seconds_ns = (args.seconds * 1e9) as u64;
    let end_reason = loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if !expected_final {
            if let Some(issued) = read_done_file(args) {
                expected = issued;
                expected_final = true;
            }
        }
        let now = unix_ns();
        let first = delivery.first_ns.get();
        let last = delivery.last_ns.get();
        if expected_final && delivery.complete(expected) >= joined {
            break "complete";
        }
        let broadcasting_over = if args.done_file.is_some() {
            expected_final
        } else {
            first != 0 && now.saturating_sub(first) >= seconds_ns
        };
        if broadcasting_over && last != 0 && now.saturating_sub(last) >= drain_ns {
            break "drained";
        }
        let hard_limit = if first == 0 {
            ready.elapsed() >= args.start_timeout
        } else {
            now.saturating_sub(first) >= seconds_ns + args.max_drain.as_nanos() as u64
        };
        if hard_limit {
            break "timeout";
        }
    };
    eprintln!("DRAINED {end_reason}");

    let unique: u64 = delivery.per_client.borrow().iter().map(|c| c.unique).sum();
    // Owed: every issued broadcast to every joined client (failed joins owe nothing).
    let lost = (expected * joined as u64).saturating_sub(unique);
    let first = delivery.first_ns.get();
    let last = delivery.last_ns.get();
    Ok(json!({
        "mode": "fanout",
        "clients": args.clients,
        "joined": joined,
        "join": progress.report(args.clients, join_timed_out),
        "rate": args.rate,
        "seconds": args.seconds,
        "expected_per_client": expected,
        "expected_final": expected_final,
        "frames_delivered": delivery.frames.get(),
        "frames_unique": unique,
        "frames_lost": lost,
        "out_of_order": delivery.out_of_order.get(),
        "gaps": delivery.gaps.get(),
        "clients_complete": delivery.complete(expected),
        "disconnected": delivery.disconnected.get(),
        "other_frames": delivery.other_frames.get(),
        "delivery_span_s": round3(last.saturating_sub(first) as f64 / 1e9),
        "latency_ms": stats::summary_ms(&delivery.latency_us.borrow()),
        "lag_ms": stats::summary_ms(&delivery.lag_us.borrow()),
        "lag_max_by_seq_ms": delivery
            .lag_max_by_seq_us
            .borrow()
            .iter()
            .map(|&us| round3(us as f64 / 1000.0))
            .collect::<Vec<_>>(),
        "end_reason": end_reason,
    }))
}
