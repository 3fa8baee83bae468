//! Keeps tokio threads out of a Python interpreter that is shutting down.
//!
//! A thread that takes the GIL while CPython finalizes is terminated from under
//! its Rust frames, which crashes the process. Every entry into Python from a
//! tokio thread (callbacks, log records) goes through [`enter`]; an `atexit`
//! hook closes the gate and waits for the calls already inside.

use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static OPEN: AtomicBool = AtomicBool::new(true);
static INSIDE: AtomicUsize = AtomicUsize::new(0);

/// Permission to call into Python; released on drop.
pub struct Entry(());

impl Drop for Entry {
    fn drop(&mut self) {
        INSIDE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `None` once the interpreter has started to exit.
pub fn enter() -> Option<Entry> {
    INSIDE.fetch_add(1, Ordering::SeqCst);
    let entry = Entry(());
    OPEN.load(Ordering::SeqCst).then_some(entry)
}

/// Registered with `atexit`: refuse new calls, then let the ones in flight
/// finish (they need the GIL, so it is released while waiting).
#[pyfunction]
pub fn close_interpreter_gate(py: Python<'_>) {
    OPEN.store(false, Ordering::SeqCst);
    py.detach(|| {
        let deadline = Instant::now() + Duration::from_secs(2);
        while INSIDE.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}
