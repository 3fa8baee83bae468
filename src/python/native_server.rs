//! `d_back._native.NativeServer`: one listener's state, driven by the Python
//! `WebSocketServer` wrapper.

use super::bridge;
use super::callbacks::{CallbackProvider, Slot};
use super::errors::os_error;
use crate::http::connection::HttpLimits;
use crate::http::StaticRoot;
use crate::hub::Hub;
use crate::server::{Server, ServerParts};
use crate::ws::WsConfig;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The native half of a `WebSocketServer`; survives stop/start cycles.
#[pyclass(frozen, module = "d_back._native")]
pub struct NativeServer {
    hub: Arc<Hub>,
    callbacks: Arc<CallbackProvider>,
    static_root: Arc<StaticRoot>,
    config: Mutex<WsConfig>,
    running: Arc<Mutex<Option<Arc<Server>>>>,
}

fn positive_seconds(what: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "{what} must be a positive number of seconds, got {value}"
            ))
        })
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[pymethods]
impl NativeServer {
    #[new]
    fn new() -> Self {
        Self {
            hub: Arc::new(Hub::new()),
            callbacks: Arc::new(CallbackProvider::default()),
            static_root: Arc::new(StaticRoot::new("")),
            config: Mutex::new(WsConfig::default()),
            running: Arc::new(Mutex::new(None)),
        }
    }

    fn set_static_dir(&self, path: &str) {
        self.static_root.set(path);
    }

    fn set_mock_intervals(&self, presence: f64, message: f64) -> PyResult<()> {
        let presence = positive_seconds("mock interval", presence)?;
        let message = positive_seconds("mock interval", message)?;
        let mut config = lock(&self.config);
        config.mock_presence_interval = presence;
        config.mock_message_interval = message;
        Ok(())
    }

    /// Longest wait for one callback; applies from the next start.
    fn set_callback_timeout(&self, seconds: f64) -> PyResult<()> {
        lock(&self.config).callback_timeout = positive_seconds("callback timeout", seconds)?;
        Ok(())
    }

    #[pyo3(signature = (name, callback))]
    fn set_callback(&self, name: &str, callback: Option<Py<PyAny>>) -> PyResult<()> {
        let slot = Slot::from_name(name)
            .ok_or_else(|| PyValueError::new_err(format!("unknown callback {name:?}")))?;
        self.callbacks.set(slot, callback);
        Ok(())
    }

    /// Binds and starts serving; resolves to the bound `(address, port)` pairs.
    fn bind<'py>(&self, py: Python<'py>, host: String, port: u16) -> PyResult<Bound<'py, PyAny>> {
        if lock(&self.running).is_some() {
            return Err(PyRuntimeError::new_err("the server is already running"));
        }
        // Callbacks run on the loop that is starting the server.
        let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
        self.callbacks.set_event_loop(event_loop.unbind());
        let parts = ServerParts {
            hub: Arc::clone(&self.hub),
            provider: Arc::clone(&self.callbacks) as _,
            static_root: Arc::clone(&self.static_root),
            ws: lock(&self.config).clone(),
            http: HttpLimits::default(),
        };
        let running = Arc::clone(&self.running);
        bridge::spawn_awaitable(py, async move {
            let server = Arc::new(Server::bind(&host, port, parts).await.map_err(os_error)?);
            let addrs: Vec<(String, u16)> = server
                .local_addrs()
                .iter()
                .map(|addr| (addr.ip().to_string(), addr.port()))
                .collect();
            let already_running = {
                let mut slot = lock(&running);
                let taken = slot.is_some();
                if !taken {
                    *slot = Some(Arc::clone(&server));
                }
                taken
            };
            if already_running {
                server.stop().await;
                return Err(PyRuntimeError::new_err("the server is already running"));
            }
            Ok(addrs)
        })
    }

    /// Resolves once the server has stopped (at once when it is not running).
    fn wait_stopped<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let server = lock(&self.running).clone();
        bridge::spawn_awaitable(py, async move {
            if let Some(server) = server {
                server.stopped().await;
            }
            Ok(())
        })
    }

    /// Closes every WebSocket with 1001, waits for them (bounded), frees the port.
    fn stop<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let server = lock(&self.running).clone();
        let running = Arc::clone(&self.running);
        bridge::spawn_awaitable(py, async move {
            if let Some(server) = server {
                server.stop().await;
                let mut slot = lock(&running);
                if slot
                    .as_ref()
                    .is_some_and(|current| Arc::ptr_eq(current, &server))
                {
                    *slot = None;
                }
            }
            Ok(())
        })
    }

    #[getter]
    fn is_serving(&self) -> bool {
        lock(&self.running)
            .as_ref()
            .is_some_and(|server| !server.is_stopping())
    }

    /// Queues an encoded frame to every connection joined to `server`.
    fn broadcast(&self, py: Python<'_>, server: &str, frame: String) -> usize {
        py.detach(|| self.hub.broadcast(server, frame))
    }

    fn send_to(&self, connection_id: u64, frame: String) -> bool {
        self.hub.send_to(connection_id, frame)
    }

    fn connection_count(&self) -> usize {
        self.hub.len()
    }

    fn connections<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.hub
            .connections()
            .into_iter()
            .map(|info| {
                let entry = PyDict::new(py);
                entry.set_item("id", info.id)?;
                entry.set_item(
                    "remote_address",
                    (info.remote.ip().to_string(), info.remote.port()),
                )?;
                if let Some(key) = info.server_key.as_deref() {
                    entry.set_item("discordServer", key)?;
                }
                if let Some(server_id) = &info.server_id {
                    entry.set_item("server_id", server_id)?;
                }
                Ok(entry)
            })
            .collect()
    }
}
