//! Rust log records into Python's `logging`, under the `d_back` logger tree
//! (`d_back::ws::connection` logs as `d_back.ws.connection`), so a bot's logging
//! configuration applies. Dependencies' records are not forwarded.

use super::interpreter;
use log::{LevelFilter, Log, Metadata, Record};
use pyo3::prelude::*;
use pyo3_log::{Caching, Logger};

/// Forwards records while the interpreter accepts calls.
struct GatedLogger(Logger);

impl Log for GatedLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        interpreter::enter().is_some_and(|_entry| self.0.enabled(metadata))
    }

    fn log(&self, record: &Record<'_>) {
        if let Some(_entry) = interpreter::enter() {
            self.0.log(record);
        }
    }

    fn flush(&self) {}
}

/// Installs the bridge once per process (later calls are no-ops).
pub fn install(py: Python<'_>) -> PyResult<()> {
    let logger = Logger::new(py, Caching::LoggersAndLevels)?
        .filter(LevelFilter::Off)
        .filter_target("d_back".to_owned(), LevelFilter::Trace);
    if log::set_boxed_logger(Box::new(GatedLogger(logger))).is_ok() {
        log::set_max_level(LevelFilter::Trace);
    }
    Ok(())
}
