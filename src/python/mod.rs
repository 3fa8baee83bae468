//! The pyo3 binding layer: the only part of the crate that knows Python exists.
//!
//! `d_back._native` exposes [`NativeServer`](native_server::NativeServer); the
//! Python package wraps it in the upstream-compatible `WebSocketServer`.

mod bridge;
mod broadcasts;
mod callbacks;
mod encode_json;
mod errors;
mod interpreter;
mod logging;
mod loop_calls;
mod native_server;
mod utf8;

use crate::protocol::pyjson;
use crate::provider::MockProvider;
use pyo3::prelude::*;

// Connections allocate and free many small buffers from several threads at
// once; mimalloc does that with less work than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The mock server list as `json.dumps` text.
#[pyfunction]
fn mock_server_data_json() -> String {
    pyjson::dumps(&MockProvider.servers())
}

/// The mock users of one server (by mapping key) as `json.dumps` text.
#[pyfunction]
fn mock_user_data_json(discord_server_id: &str) -> String {
    pyjson::dumps(&MockProvider.users(discord_server_id))
}

// Safe without the GIL (free-threaded CPython 3.14t): every pyclass is frozen
// with its state behind mutexes or atomics, and no Rust state relies on the GIL.
#[pymodule(gil_used = false)]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    logging::install(py)?;
    let gate = wrap_pyfunction!(interpreter::close_interpreter_gate, module)?;
    py.import("atexit")?.call_method1("register", (gate,))?;
    module.add("__version__", crate::VERSION)?;
    module.add_function(wrap_pyfunction!(encode_json::encode_json, module)?)?;
    module.add_function(wrap_pyfunction!(mock_server_data_json, module)?)?;
    module.add_function(wrap_pyfunction!(mock_user_data_json, module)?)?;
    module.add_class::<native_server::NativeServer>()?;
    module.add_class::<loop_calls::LoopCallQueue>()?;
    Ok(())
}
