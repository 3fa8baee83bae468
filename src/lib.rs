//! d-back: the WebSocket + HTTP server between Discord data and the d-zone frontend.
//!
//! The core (`protocol`, `provider`, `hub`, `ws`, `http`, `server`, `metrics`)
//! knows nothing about Python; the optional `python` feature adds the pyo3
//! binding layer.

pub mod doorbell;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod protocol;
pub mod provider;
pub mod server;
mod task;
mod tcp_cork;
pub mod thread_priority;
pub mod worker_threads;
pub mod ws;

/// The package version, reported by `/api/version`, `--version` and `__version__`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(feature = "python")]
mod python;
