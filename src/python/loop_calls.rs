//! Callback calls handed to the asyncio loop in batches.
//!
//! A tokio task that needs a callback's result queues the call here. The first
//! call of a batch schedules one `drain` on the loop: it rings the loop's
//! [`Doorbell`] (no GIL), or where the loop cannot watch it, goes through
//! `call_soon_threadsafe`. Every call queued before that drain runs joins it.
//! On the loop thread the drain starts each call as an asyncio task, which
//! hands its converted result back through [`LoopCallQueue::finish`] as it
//! ends. So tokio threads need no GIL per call or per result, and a burst of
//! joins costs the loop one wake-up.

use super::callbacks::Slot;
use super::interpreter;
use crate::doorbell::Doorbell;
use crate::provider::{ProviderError, StaticOverride};
use pyo3::prelude::*;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// A callback's result, converted on the loop thread.
pub enum Reply {
    /// `json.dumps` of what a data callback returned.
    Json(String),
    /// The truthiness of what `validate_discord_user` returned.
    Bool(bool),
    /// What `static_request` asked to serve.
    Static(Option<StaticOverride>),
}

type Outcome = Result<Reply, ProviderError>;

/// The calls of one server: queued, running, and to be cancelled.
pub struct LoopCalls {
    state: Mutex<State>,
    /// `None` if no socket pair could be made; wake-ups then take the GIL.
    doorbell: Option<Doorbell>,
}

impl Default for LoopCalls {
    fn default() -> Self {
        let doorbell = Doorbell::new()
            .inspect_err(|error| tracing::debug!(%error, "no doorbell for the asyncio loop"))
            .ok();
        Self {
            state: Mutex::default(),
            doorbell,
        }
    }
}

#[derive(Default)]
struct State {
    next_id: u64,
    to_start: Vec<Start>,
    to_cancel: Vec<u64>,
    waiting: HashMap<u64, Waiter>,
    drain_scheduled: bool,
    target: Option<Target>,
}

struct Start {
    id: u64,
    slot: Slot,
    callback: Arc<Py<PyAny>>,
    args_json: String,
}

struct Waiter {
    slot: Slot,
    reply: oneshot::Sender<Outcome>,
}

/// The loop the callbacks run on and the drain function scheduled on it.
struct Target {
    event_loop: Py<PyAny>,
    drain: Py<PyAny>,
    /// Whether the loop watches the doorbell (and runs `drain` when it rings).
    watches_doorbell: bool,
}

impl LoopCalls {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From now on calls run on `event_loop`, started by `drain`, which the
    /// loop runs by itself when the doorbell rings if `watches_doorbell`.
    pub fn set_target(&self, event_loop: Py<PyAny>, drain: Py<PyAny>, watches_doorbell: bool) {
        self.state().target = Some(Target {
            event_loop,
            drain,
            watches_doorbell,
        });
    }

    /// The descriptor the loop should watch for [`Self::set_target`].
    pub fn doorbell_fd(&self) -> Option<i64> {
        self.doorbell.as_ref()?.fd().map(i64::from)
    }

    /// Queues a call of `callback` with `args_json` (a JSON array).
    pub fn submit(
        self: &Arc<Self>,
        slot: Slot,
        callback: Arc<Py<PyAny>>,
        args_json: String,
    ) -> Result<Pending, ProviderError> {
        let (reply, receiver) = oneshot::channel();
        let (id, wake) = {
            let mut state = self.state();
            if state.target.is_none() {
                return Err(ProviderError(format!(
                    "{}: the server is not running",
                    slot.name()
                )));
            }
            let id = state.next_id;
            state.next_id += 1;
            state.to_start.push(Start {
                id,
                slot,
                callback,
                args_json,
            });
            state.waiting.insert(id, Waiter { slot, reply });
            (id, !std::mem::replace(&mut state.drain_scheduled, true))
        };
        if wake {
            self.wake_soon();
        }
        Ok(Pending {
            calls: Arc::clone(self),
            id,
            receiver,
            settled: false,
        })
    }

    /// Stops waiting for call `id`: never started if it is still queued,
    /// cancelled on the loop otherwise.
    fn cancel(&self, id: u64) {
        let wake = {
            let mut state = self.state();
            if state.waiting.remove(&id).is_none() {
                return;
            }
            if let Some(at) = state.to_start.iter().position(|start| start.id == id) {
                state.to_start.remove(at);
                return;
            }
            state.to_cancel.push(id);
            !std::mem::replace(&mut state.drain_scheduled, true)
        };
        if wake {
            self.wake();
        }
    }

    /// [`Self::wake`], once the tokio worker has run the tasks that are ready
    /// now. In a burst of joins those queue their calls too, and the loop
    /// takes them all in one wake-up instead of one each; the wait is at most
    /// one round of the worker's queue (it rings before it would sleep).
    fn wake_soon(self: &Arc<Self>) {
        if tokio::runtime::Handle::try_current().is_err() {
            return self.wake();
        }
        let calls = Arc::clone(self);
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            calls.wake();
        });
    }

    /// Schedules a drain on the loop; if that is impossible (the loop is
    /// closed, the interpreter is exiting) every waiting call fails.
    fn wake(&self) {
        let watched = self
            .state()
            .target
            .as_ref()
            .is_some_and(|target| target.watches_doorbell);
        if watched && self.doorbell.as_ref().is_some_and(Doorbell::ring) {
            return;
        }
        let scheduled = interpreter::enter().is_some_and(|_entry| {
            Python::attach(|py| {
                let target =
                    self.state().target.as_ref().map(|target| {
                        (target.event_loop.clone_ref(py), target.drain.clone_ref(py))
                    });
                let Some((event_loop, drain)) = target else {
                    return false;
                };
                match event_loop.call_method1(py, "call_soon_threadsafe", (drain,)) {
                    Ok(_) => true,
                    Err(error) => {
                        tracing::debug!(error = %error.value(py), "cannot schedule callbacks");
                        false
                    }
                }
            })
        });
        if !scheduled {
            self.fail_all("the event loop is not running");
        }
    }

    fn fail_all(&self, why: &str) {
        let waiting = {
            let mut state = self.state();
            state.to_start.clear();
            state.to_cancel.clear();
            state.drain_scheduled = false;
            std::mem::take(&mut state.waiting)
        };
        for waiter in waiting.into_values() {
            let error = ProviderError(format!("{}: {why}", waiter.slot.name()));
            let _ = waiter.reply.send(Err(error));
        }
    }
}

/// A queued or running call; dropping it before it settles cancels the call.
pub struct Pending {
    calls: Arc<LoopCalls>,
    id: u64,
    receiver: oneshot::Receiver<Outcome>,
    settled: bool,
}

impl Pending {
    pub async fn outcome(mut self) -> Outcome {
        let outcome = (&mut self.receiver).await;
        self.settled = true;
        outcome.unwrap_or_else(|_| {
            Err(ProviderError(
                "the event loop stopped before the callback finished".into(),
            ))
        })
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.settled {
            self.calls.cancel(self.id);
        }
    }
}

/// The Python side's handle on a server's [`LoopCalls`] (see `d_back._bridge.CallRunner`).
#[pyclass(frozen, module = "d_back._native")]
pub struct LoopCallQueue(pub Arc<LoopCalls>);

type StartArgs = (u64, Py<PyAny>, &'static str, &'static str, String);

#[pymethods]
impl LoopCallQueue {
    /// The descriptor for `loop.add_reader(fd, drain)`; `None` if there is none.
    fn doorbell_fd(&self) -> Option<i64> {
        self.0.doorbell_fd()
    }

    /// The calls to start (id, callback, name, mode, JSON arguments) and the
    /// ids of running calls to cancel.
    fn take(&self, py: Python<'_>) -> (Vec<StartArgs>, Vec<u64>) {
        // Rings from now on are for calls this take may miss: they wake the
        // loop again (at worst for nothing).
        if let Some(doorbell) = &self.0.doorbell {
            doorbell.silence();
        }
        let (starts, cancels) = {
            let mut state = self.0.state();
            state.drain_scheduled = false;
            (
                std::mem::take(&mut state.to_start),
                std::mem::take(&mut state.to_cancel),
            )
        };
        let starts = starts
            .into_iter()
            .map(|start| {
                let slot = start.slot;
                let callback = start.callback.clone_ref(py);
                (
                    start.id,
                    callback,
                    slot.name(),
                    slot.mode(),
                    start.args_json,
                )
            })
            .collect();
        (starts, cancels)
    }

    /// Hands the outcome of call `id` to whoever waits: its converted result
    /// if `ok`, else the exception it ended with.
    fn finish(&self, py: Python<'_>, id: u64, ok: bool, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let Some(waiter) = self.0.state().waiting.remove(&id) else {
            return Ok(()); // nobody waits any more
        };
        let name = waiter.slot.name();
        let outcome = if ok {
            convert(waiter.slot, value)
                .map_err(|e| ProviderError(format!("{name} failed: {}", e.value(py))))
        } else if value.is_instance_of::<pyo3::exceptions::asyncio::CancelledError>() {
            Err(ProviderError(format!("{name}: cancelled")))
        } else {
            Err(ProviderError(format!("{name} failed: {value}")))
        };
        let _ = waiter.reply.send(outcome);
        Ok(())
    }
}

fn convert(slot: Slot, value: &Bound<'_, PyAny>) -> PyResult<Reply> {
    Ok(match slot.mode() {
        "bool" => Reply::Bool(value.extract()?),
        "static" => Reply::Static(static_override(value)?),
        _ => Reply::Json(value.extract()?),
    })
}

/// The bridge hands back `None` or `(content_type, path_or_None, bytes_or_None)`.
fn static_override(result: &Bound<'_, PyAny>) -> PyResult<Option<StaticOverride>> {
    if result.is_none() {
        return Ok(None);
    }
    let (content_type, path, body): (String, Option<String>, Option<Vec<u8>>) = result.extract()?;
    Ok(Some(match (path, body) {
        (_, Some(body)) => StaticOverride::Bytes { content_type, body },
        (Some(path), None) => StaticOverride::File {
            content_type,
            path: PathBuf::from(path),
        },
        (None, None) => return Ok(None),
    }))
}
