//! Server lifecycle: bind, accept, and a graceful stop that frees the port.

mod bind;

pub use bind::OsMessage;

use crate::http::connection::{self as http_connection, HttpLimits};
use crate::http::{AccessPolicy, HttpContext, StaticRoot};
use crate::hub::Hub;
use crate::provider::Provider;
use crate::ws::{WsConfig, WsContext};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Everything a server is built from.
#[derive(Clone)]
pub struct ServerParts {
    pub hub: Arc<Hub>,
    pub provider: Arc<dyn Provider>,
    pub static_root: Arc<StaticRoot>,
    pub ws: WsConfig,
    pub http: HttpLimits,
    pub access: AccessPolicy,
}

/// A bound, serving server. Dropping it does not stop it; call [`Server::stop`].
pub struct Server {
    addrs: Vec<SocketAddr>,
    shutdown: CancellationToken,
    stopped: CancellationToken,
    tracker: TaskTracker,
    websockets: TaskTracker,
    acceptors: Mutex<Vec<JoinHandle<()>>>,
    close_timeout: Duration,
}

impl Server {
    /// Binds every address of `host` and starts accepting connections.
    pub async fn bind(host: &str, port: u16, parts: ServerParts) -> io::Result<Self> {
        let listeners = bind::bind_all(host, port).await?;
        let addrs = listeners
            .iter()
            .map(TcpListener::local_addr)
            .collect::<io::Result<Vec<_>>>()?;
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let websockets = TaskTracker::new();
        let close_timeout = parts.ws.close_timeout;
        let ctx = Arc::new(HttpContext {
            static_root: parts.static_root,
            ws: Arc::new(WsContext {
                hub: parts.hub,
                provider: parts.provider,
                config: parts.ws,
            }),
            shutdown: shutdown.clone(),
            tracker: tracker.clone(),
            websockets: websockets.clone(),
            version: crate::VERSION,
            access: parts.access,
            websocket_slots: Arc::new(Semaphore::new(
                parts.http.max_connections.min(Semaphore::MAX_PERMITS),
            )),
        });
        let acceptors = listeners
            .into_iter()
            .map(|listener| {
                tokio::spawn(accept_loop(listener, Arc::clone(&ctx), parts.http.clone()))
            })
            .collect();
        tracing::info!(?addrs, "d-back listening");
        Ok(Self {
            addrs,
            shutdown,
            stopped: CancellationToken::new(),
            tracker,
            websockets,
            acceptors: Mutex::new(acceptors),
            close_timeout,
        })
    }

    /// The bound addresses (with the real port when 0 was asked for).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Closes the listeners (the port is free when this returns), sends 1001
    /// to every WebSocket client and waits for them within the close timeout.
    /// Open HTTP connections answer (health: 503) until the WebSocket clients
    /// are gone, then close. Safe to call more than once.
    pub async fn stop(&self) {
        self.shutdown.cancel();
        let acceptors =
            std::mem::take(&mut *self.acceptors.lock().unwrap_or_else(|e| e.into_inner()));
        for acceptor in acceptors {
            let _ = acceptor.await;
        }
        self.websockets.close();
        self.tracker.close();
        let grace = self.close_timeout + Duration::from_secs(1);
        let drained = async { tokio::join!(self.websockets.wait(), self.tracker.wait()) };
        if tokio::time::timeout(grace, drained).await.is_err() {
            tracing::warn!(
                remaining = self.tracker.len() + self.websockets.len(),
                "connections still closing after stop"
            );
        }
        self.stopped.cancel();
    }

    /// Resolves once [`Server::stop`] has finished.
    pub async fn stopped(&self) {
        self.stopped.cancelled().await;
    }

    pub fn is_stopping(&self) -> bool {
        self.shutdown.is_cancelled()
    }
}

async fn accept_loop(listener: TcpListener, ctx: Arc<HttpContext>, limits: HttpLimits) {
    loop {
        let accepted = tokio::select! {
            _ = ctx.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote)) => {
                let connection =
                    http_connection::serve(stream, remote, Arc::clone(&ctx), limits.clone());
                ctx.tracker
                    .spawn(crate::task::contain_panics("http connection", connection));
            }
            Err(error) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests;
