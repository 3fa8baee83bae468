//! HTTP/1.1 on the shared port: static files, the tiny API, and the WebSocket upgrade.

pub mod access;
pub mod connection;
pub mod content_type;
mod monitoring;
pub mod responses;
mod router;
pub mod static_files;
mod static_root;
pub mod upgrade;

pub use access::AccessPolicy;
pub use static_root::StaticRoot;

use crate::ws::WsContext;
use bytes::Bytes;
use http_body_util::Full;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Every response body we send is small and fully buffered.
pub type Body = Full<Bytes>;

/// What every HTTP connection of one running server shares.
pub struct HttpContext {
    /// Where static files come from; changes apply to the next request.
    pub static_root: Arc<StaticRoot>,
    pub ws: Arc<WsContext>,
    /// Cancelled when the server stops.
    pub shutdown: CancellationToken,
    /// Tracks HTTP connection tasks so a stop can wait for them.
    pub tracker: TaskTracker,
    /// Tracks upgraded WebSocket tasks; HTTP connections stay open until
    /// these have drained during a stop.
    pub websockets: TaskTracker,
    /// Reported by `/api/version`.
    pub version: &'static str,
    /// Origin allow-list and trusted proxies.
    pub access: AccessPolicy,
    /// One permit per open WebSocket connection (the connection limit).
    pub websocket_slots: Arc<Semaphore>,
}
