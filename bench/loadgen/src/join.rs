//! Opening and joining many clients with a bounded number in flight; the
//! `join-storm` and `idle` modes.

use crate::args::Args;
use crate::client::{self, Ws};
use crate::stats::{self, unix_ns};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Distinct failure reasons kept (the rest are counted as "other").
const MAX_REASONS: usize = 16;

/// Progress of one join phase, shared by the client tasks (single thread).
pub struct JoinProgress {
    pub joined: Cell<usize>,
    pub failed: Cell<usize>,
    latency_us: RefCell<Histogram<u64>>,
    reasons: RefCell<BTreeMap<String, usize>>,
    started: Instant,
    last_join: Cell<Option<Instant>>,
}

impl JoinProgress {
    fn new() -> Self {
        Self {
            joined: Cell::new(0),
            failed: Cell::new(0),
            latency_us: RefCell::new(stats::histogram()),
            reasons: RefCell::new(BTreeMap::new()),
            started: Instant::now(),
            last_join: Cell::new(None),
        }
    }

    fn fail(&self, reason: String) {
        self.failed.set(self.failed.get() + 1);
        let mut reasons = self.reasons.borrow_mut();
        if reasons.len() < MAX_REASONS || reasons.contains_key(&reason) {
            *reasons.entry(reason).or_default() += 1;
        } else {
            *reasons.entry("other".into()).or_default() += 1;
        }
    }

    fn done(&self) -> usize {
        self.joined.get() + self.failed.get()
    }

    /// The join figures as JSON.
    pub fn report(&self, clients: usize, timed_out: bool) -> Value {
        let span = self
            .last_join
            .get()
            .map(|t| t.duration_since(self.started))
            .unwrap_or_default();
        let joined = self.joined.get();
        let per_s = if span.is_zero() {
            0.0
        } else {
            joined as f64 / span.as_secs_f64()
        };
        json!({
            "clients": clients,
            "joined": joined,
            "failed": self.failed.get(),
            "unfinished": clients - self.done().min(clients),
            "timed_out": timed_out,
            "elapsed_s": round3(span.as_secs_f64()),
            "joins_per_s": round3(per_s),
            "latency_ms": stats::summary_ms(&self.latency_us.borrow()),
            "failures": *self.reasons.borrow(),
        })
    }
}

pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Opens `args.clients` clients, at most `args.in_flight` joining at once. Each
/// joined client is handed to `after(index, ws)`, which runs in its own task for
/// as long as the process wants it. Returns once every join attempt ended or the
/// phase timeout passed (then `timed_out` is true).
pub async fn join_all<F, Fut>(args: &Args, after: F) -> (Rc<JoinProgress>, bool)
where
    F: Fn(usize, Ws) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let progress = Rc::new(JoinProgress::new());
    let gate = Arc::new(Semaphore::new(args.in_flight));
    let url: Rc<str> = Rc::from(args.url.as_str());
    let addr = args.addr;
    let join_timeout = args.join_timeout;
    let clients = args.clients;
    let after = Rc::new(after);
    let spawner = {
        let progress = Rc::clone(&progress);
        tokio::task::spawn_local(async move {
            for index in 0..clients {
                let Ok(permit) = Arc::clone(&gate).acquire_owned().await else {
                    return;
                };
                let progress = Rc::clone(&progress);
                let url = Rc::clone(&url);
                let after = Rc::clone(&after);
                tokio::task::spawn_local(async move {
                    let start = Instant::now();
                    let joined =
                        tokio::time::timeout(join_timeout, client::open_and_join(&url, addr)).await;
                    drop(permit);
                    match joined {
                        Ok(Ok(ws)) => {
                            let now = Instant::now();
                            let us = now.duration_since(start).as_micros() as u64;
                            progress
                                .latency_us
                                .borrow_mut()
                                .saturating_record(us.max(1));
                            progress.joined.set(progress.joined.get() + 1);
                            progress.last_join.set(Some(now));
                            after(index, ws).await;
                        }
                        Ok(Err(reason)) => progress.fail(reason),
                        Err(_) => progress.fail("join timeout".into()),
                    }
                });
            }
        })
    };
    let deadline = Instant::now() + args.phase_timeout;
    let mut timed_out = false;
    while progress.done() < clients {
        if Instant::now() >= deadline {
            timed_out = true;
            spawner.abort();
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (progress, timed_out)
}

/// Writes the readiness marker on stderr and, if asked, into a file.
pub fn signal_ready(args: &Args, progress: &JoinProgress) {
    let line = format!("READY {} {}", progress.joined.get(), progress.failed.get());
    eprintln!("{line}");
    if let Some(path) = &args.ready_file {
        if let Err(error) = std::fs::write(path, format!("{line}\n")) {
            eprintln!("d-back-loadgen: cannot write {}: {error}", path.display());
        }
    }
}

/// `join-storm`: how fast and how cheaply clients join; all close at exit.
pub async fn join_storm(args: &Args) -> Result<Value, String> {
    eprintln!("STARTED");
    let (progress, timed_out) = join_all(args, |_, ws| client::hold(ws)).await;
    eprintln!("JOINED {} {}", progress.joined.get(), progress.failed.get());
    let mut report = progress.report(args.clients, timed_out);
    report["mode"] = json!("join-storm");
    report["in_flight"] = json!(args.in_flight);
    report["finished_unix_ns"] = json!(unix_ns());
    Ok(report)
}

/// `idle`: join N clients and keep them open, doing nothing, for a while.
pub async fn idle(args: &Args) -> Result<Value, String> {
    let (progress, timed_out) = join_all(args, |_, ws| client::hold(ws)).await;
    signal_ready(args, &progress);
    tokio::time::sleep(args.hold).await;
    eprintln!("DONE");
    let join = progress.report(args.clients, timed_out);
    Ok(json!({
        "mode": "idle",
        "clients": args.clients,
        "joined": progress.joined.get(),
        "hold_s": args.hold.as_secs_f64(),
        "join": join,
    }))
}
