//! asyncio ↔ tokio, in both directions, through the interpreter gate.
//!
//! * Rust work awaited by Python ([`spawn_awaitable`]): the caller's loop gets a
//!   plain `asyncio.Future`; the tokio task resolves it with
//!   `loop.call_soon_threadsafe`, and skips that once the interpreter is exiting
//!   (nobody is waiting then). A cancelled future simply ignores the result.
//! * Python callbacks awaited by Rust: see [`super::loop_calls`].

use super::interpreter;
use crate::thread_priority::{NiceSteps, ThreadPriority};
use crate::worker_threads::WorkerThreads;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::IntoPyObjectExt;
use std::future::Future;
use std::sync::OnceLock;
use tokio::runtime::Runtime;

/// The priority of every server thread of the process: [`NiceSteps`] below
/// the thread that created the first server, as the environment said then.
pub fn thread_priority() -> PyResult<ThreadPriority> {
    static PRIORITY: OnceLock<ThreadPriority> = OnceLock::new();
    if let Some(priority) = PRIORITY.get() {
        return Ok(*priority);
    }
    let steps = NiceSteps::from_env().map_err(PyValueError::new_err)?;
    Ok(*PRIORITY.get_or_init(|| steps.below_this_thread()))
}

/// The number of worker threads of the runtime, as the environment said when
/// the first server was created.
pub fn worker_threads() -> PyResult<WorkerThreads> {
    static WORKERS: OnceLock<WorkerThreads> = OnceLock::new();
    if let Some(workers) = WORKERS.get() {
        return Ok(*workers);
    }
    let workers = WorkerThreads::from_env().map_err(PyValueError::new_err)?;
    Ok(*WORKERS.get_or_init(|| workers))
}

/// The runtime all servers of the process run on, started by the first
/// server created.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.enable_all().thread_name("d-back");
        // Both set by then: creating a server fixes them before it needs the runtime.
        thread_priority()
            .unwrap_or_default()
            .for_runtime(&mut builder);
        worker_threads()
            .unwrap_or_else(|_| WorkerThreads::for_cores(1))
            .for_runtime(&mut builder);
        builder
            .build()
            .unwrap_or_else(|error| panic!("cannot start the tokio runtime: {error}"))
    })
}

pub fn bridge_function<'py>(py: Python<'py>, name: &'static str) -> PyResult<Bound<'py, PyAny>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module =
        MODULE.get_or_try_init(py, || PyResult::Ok(py.import("d_back._bridge")?.unbind()))?;
    module.bind(py).getattr(name)
}

/// Runs `work` on tokio; returns an `asyncio.Future` of the running loop that
/// resolves with its result.
pub fn spawn_awaitable<'py, F, T>(py: Python<'py>, work: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
    let future = event_loop.call_method0("create_future")?;
    let loop_ref = event_loop.unbind();
    let future_ref = future.clone().unbind();
    runtime().spawn(async move {
        let result = work.await;
        let Some(_entry) = interpreter::enter() else {
            return;
        };
        Python::attach(|py| {
            let (ok, value) = match result.and_then(|value| value.into_py_any(py)) {
                Ok(value) => (true, value),
                Err(error) => (false, error.into_value(py).into_any()),
            };
            let resolve = bridge_function(py, "resolve_future");
            let scheduled = resolve.and_then(|resolve| {
                loop_ref.call_method1(py, "call_soon_threadsafe", (resolve, future_ref, ok, value))
            });
            if let Err(error) = scheduled {
                // The loop is closed: whoever awaited this is gone.
                tracing::debug!(error = %error.value(py), "result of a finished operation dropped");
            }
        });
    });
    Ok(future)
}
