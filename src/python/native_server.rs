//! `d_back._native.NativeServer`: one listener's state, driven by the Python
//! `WebSocketServer` wrapper.

use super::bridge;
use super::broadcasts;
use super::callbacks::{CallbackProvider, Slot};
use super::errors::os_error;
use super::loop_calls::LoopCallQueue;
use crate::http::connection::HttpLimits;
use crate::http::{AccessPolicy, StaticRoot};
use crate::hub::{Fanout, Hub};
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
    /// Takes broadcasts off the caller's thread, in order.
    fanout: Fanout,
    callbacks: Arc<CallbackProvider>,
    static_root: Arc<StaticRoot>,
    config: Mutex<WsConfig>,
    http_limits: Mutex<HttpLimits>,
    access: Mutex<AccessPolicy>,
    running: Arc<Mutex<Option<Arc<Server>>>>,
    /// The `CallRunner` of the loop the last bind came from, until released.
    runner: Mutex<Option<Py<PyAny>>>,
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
    fn new() -> PyResult<Self> {
        let priority = bridge::thread_priority()?;
        bridge::worker_threads()?;
        let hub = Arc::new(Hub::new());
        let fanout = Fanout::spawn(Arc::clone(&hub), priority).map_err(os_error)?;
        Ok(Self {
            fanout,
            hub,
            callbacks: Arc::new(CallbackProvider::default()),
            static_root: Arc::new(StaticRoot::new("")),
            config: Mutex::new(WsConfig::default()),
            http_limits: Mutex::new(HttpLimits::default()),
            access: Mutex::new(AccessPolicy::default()),
            running: Arc::new(Mutex::new(None)),
            runner: Mutex::new(None),
        })
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

    /// Connection limits and timers; `None` keeps a value. Applies from the next start.
    #[pyo3(signature = (
        *,
        max_message_size=None,
        max_connections=None,
        max_queue=None,
        max_queue_bytes=None,
        ping_interval=None,
        ping_timeout=None,
        close_timeout=None,
        open_timeout=None,
        max_headers=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn set_limits(
        &self,
        max_message_size: Option<usize>,
        max_connections: Option<usize>,
        max_queue: Option<usize>,
        max_queue_bytes: Option<usize>,
        ping_interval: Option<f64>,
        ping_timeout: Option<f64>,
        close_timeout: Option<f64>,
        open_timeout: Option<f64>,
        max_headers: Option<usize>,
    ) -> PyResult<()> {
        let seconds =
            |what, value: Option<f64>| value.map(|v| positive_seconds(what, v)).transpose();
        let count = |what, value: Option<usize>| match value {
            Some(0) => Err(PyValueError::new_err(format!("{what} must be at least 1"))),
            other => Ok(other),
        };
        let max_message_size = count("max_message_size", max_message_size)?;
        let max_connections = count("max_connections", max_connections)?;
        let max_queue = count("max_queue", max_queue)?;
        let max_queue_bytes = count("max_queue_bytes", max_queue_bytes)?;
        let max_headers = count("max_headers", max_headers)?;
        let ping_interval = seconds("ping_interval", ping_interval)?;
        let ping_timeout = seconds("ping_timeout", ping_timeout)?;
        let close_timeout = seconds("close_timeout", close_timeout)?;
        let open_timeout = seconds("open_timeout", open_timeout)?;

        let mut config = lock(&self.config);
        if let Some(size) = max_message_size {
            config.max_message_size = size;
            config.max_frame_size = size;
        }
        config.queue_frames = max_queue.unwrap_or(config.queue_frames);
        config.queue_bytes = max_queue_bytes.unwrap_or(config.queue_bytes);
        config.ping_interval = ping_interval.unwrap_or(config.ping_interval);
        config.ping_timeout = ping_timeout.unwrap_or(config.ping_timeout);
        config.close_timeout = close_timeout.unwrap_or(config.close_timeout);
        let mut http = lock(&self.http_limits);
        http.max_connections = max_connections.unwrap_or(http.max_connections);
        http.header_read_timeout = open_timeout.unwrap_or(http.header_read_timeout);
        http.max_headers = max_headers.unwrap_or(http.max_headers);
        Ok(())
    }

    /// Seconds a socket may stay open without a successful `connect` (closed
    /// with 1008 after); `None` waits forever. Applies from the next start.
    #[pyo3(signature = (seconds))]
    fn set_join_timeout(&self, seconds: Option<f64>) -> PyResult<()> {
        let limit = seconds
            .map(|s| positive_seconds("join_timeout", s))
            .transpose()?;
        lock(&self.config).join_timeout = limit;
        Ok(())
    }

    /// WebSocket `Origin` allow-list (empty: any) and trusted reverse proxies.
    fn set_access(
        &self,
        allowed_origins: Vec<String>,
        trusted_proxies: Vec<String>,
    ) -> PyResult<()> {
        let trusted_proxies = trusted_proxies
            .iter()
            .map(|proxy| {
                proxy
                    .trim()
                    .parse()
                    .map_err(|_| PyValueError::new_err(format!("not an IP address: {proxy:?}")))
            })
            .collect::<PyResult<Vec<_>>>()?;
        *lock(&self.access) = AccessPolicy {
            allowed_origins,
            trusted_proxies,
        };
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
        self.release_loop(py)?;
        let queue = LoopCallQueue(self.callbacks.calls());
        let runner =
            bridge::bridge_function(py, "CallRunner")?.call1((event_loop.clone(), queue))?;
        let drain = runner.getattr("drain")?;
        let watches_doorbell = runner.getattr("watches_doorbell")?.is_truthy()?;
        self.callbacks
            .calls()
            .set_target(event_loop.unbind(), drain.unbind(), watches_doorbell);
        *lock(&self.runner) = Some(runner.unbind());
        let parts = ServerParts {
            hub: Arc::clone(&self.hub),
            provider: Arc::clone(&self.callbacks) as _,
            static_root: Arc::clone(&self.static_root),
            ws: lock(&self.config).clone(),
            http: lock(&self.http_limits).clone(),
            access: lock(&self.access).clone(),
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

    /// After a run: the loop stops watching for callback calls. Call on the
    /// loop's thread once the server has stopped.
    fn release_loop(&self, py: Python<'_>) -> PyResult<()> {
        let runner = lock(&self.runner).take();
        match runner {
            Some(runner) => runner.call_method0(py, "close").map(drop),
            None => Ok(()),
        }
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

    /// Queues an encoded frame for every connection joined to `server` and
    /// returns at once with how many that is; a fan-out thread sends it.
    fn broadcast(&self, server: &str, frame: String) -> usize {
        if !self.is_serving() {
            return 0;
        }
        match self.fanout.submit(server, frame) {
            Ok(audience) => audience,
            Err(refused) => {
                tracing::warn!(
                    ?refused,
                    server,
                    "broadcast dropped: the fan-out is too far behind"
                );
                0
            }
        }
    }

    /// `broadcast_message` encoded here when every value is a plain `str`:
    /// queued like [`Self::broadcast`]. `None` (nothing sent) otherwise.
    fn broadcast_message(
        &self,
        server: &Bound<'_, PyAny>,
        uid: &Bound<'_, PyAny>,
        message: &Bound<'_, PyAny>,
        channel: &Bound<'_, PyAny>,
    ) -> Option<usize> {
        let encoded = broadcasts::message(server, uid, message, channel)?;
        Some(self.broadcast(&encoded.server, encoded.frame))
    }

    /// `broadcast_presence`, like [`Self::broadcast_message`].
    #[pyo3(signature = (server, uid, status, username=None, role_color=None, delete=None))]
    fn broadcast_presence(
        &self,
        server: &Bound<'_, PyAny>,
        uid: &Bound<'_, PyAny>,
        status: &Bound<'_, PyAny>,
        username: Option<&Bound<'_, PyAny>>,
        role_color: Option<&Bound<'_, PyAny>>,
        delete: Option<&Bound<'_, PyAny>>,
    ) -> Option<usize> {
        let encoded = broadcasts::presence(server, uid, status, username, role_color, delete)?;
        Some(self.broadcast(&encoded.server, encoded.frame))
    }

    /// `broadcast_client_id_update`, like [`Self::broadcast_message`].
    fn broadcast_client_id_update(
        &self,
        server: &Bound<'_, PyAny>,
        client_id: &Bound<'_, PyAny>,
    ) -> Option<usize> {
        let encoded = broadcasts::client_id_update(server, client_id)?;
        Some(self.broadcast(&encoded.server, encoded.frame))
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
