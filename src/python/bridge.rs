//! asyncio ↔ tokio, in both directions, through the interpreter gate.
//!
//! * Rust work awaited by Python ([`spawn_awaitable`]): the caller's loop gets a
//!   plain `asyncio.Future`; the tokio task resolves it with
//!   `loop.call_soon_threadsafe`, and skips that once the interpreter is exiting
//!   (nobody is waiting then). A cancelled future simply ignores the result.
//! * Python coroutines awaited by Rust ([`run_on_loop`]): scheduled with
//!   `asyncio.run_coroutine_threadsafe`; the result travels back through a
//!   oneshot channel fed by a done-callback that runs on the loop thread.
//!
//! Tokio threads take the GIL only for those two scheduling calls, never while
//! waiting.

use super::interpreter;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::IntoPyObjectExt;
use std::future::Future;
use std::sync::{Mutex, OnceLock};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

/// The runtime all servers of the process run on.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("d-back")
            .build()
            .unwrap_or_else(|error| panic!("cannot start the tokio runtime: {error}"))
    })
}

fn bridge_function<'py>(py: Python<'py>, name: &'static str) -> PyResult<Bound<'py, PyAny>> {
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

/// A coroutine running on the asyncio loop for Rust.
pub struct LoopCall {
    /// Yields the coroutine's outcome; a dropped sender means the loop went
    /// away before it finished.
    pub outcome: oneshot::Receiver<PyResult<Py<PyAny>>>,
    /// Cancels the coroutine if Rust stops waiting for it (a timeout, a closed
    /// connection, a stopped server).
    pub cancel: CancelOnDrop,
}

/// Schedules `coroutine` on `event_loop` from any thread.
pub fn run_on_loop(
    py: Python<'_>,
    event_loop: &Py<PyAny>,
    coroutine: Bound<'_, PyAny>,
) -> PyResult<LoopCall> {
    let (tx, outcome) = oneshot::channel();
    let deliver = Deliver(Mutex::new(Some(tx)));
    let future = bridge_function(py, "run_on_loop")?.call1((coroutine, event_loop, deliver))?;
    Ok(LoopCall {
        outcome,
        cancel: CancelOnDrop(Some(future.unbind())),
    })
}

/// Cancels a `concurrent.futures.Future` of a scheduled coroutine when dropped,
/// unless [`CancelOnDrop::disarm`] was called.
pub struct CancelOnDrop(Option<Py<PyAny>>);

impl CancelOnDrop {
    /// The coroutine finished; nothing to cancel.
    pub fn disarm(mut self) {
        if let Some(future) = self.0.take() {
            drop(future);
        }
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(future) = self.0.take() else {
            return;
        };
        if let Some(_entry) = interpreter::enter() {
            // Thread-safe: the loop cancels the task on its own thread.
            Python::attach(|py| {
                let _ = future.call_method0(py, "cancel");
            });
        }
    }
}

/// Done-callback of `run_coroutine_threadsafe`'s future; hands the outcome to Rust.
#[pyclass(frozen)]
struct Deliver(Mutex<Option<oneshot::Sender<PyResult<Py<PyAny>>>>>);

#[pymethods]
impl Deliver {
    fn __call__(&self, future: &Bound<'_, PyAny>) {
        let outcome = future.call_method0("result").map(Bound::unbind);
        let sender = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(sender) = sender {
            let _ = sender.send(outcome);
        }
    }
}
