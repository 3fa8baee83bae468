//! One accepted TCP connection speaking HTTP/1.1 (until it upgrades).

use super::{router, HttpContext};
use crate::tcp_cork::Cork;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// Limits applied while reading HTTP requests.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Time allowed to receive a request's headers (slowloris guard).
    pub header_read_timeout: Duration,
    /// Most request headers accepted.
    pub max_headers: usize,
    /// Most open WebSocket connections; further upgrades get HTTP 503.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_headers: 100,
            max_connections: 50_000,
        }
    }
}

/// Serves requests on `stream` until the peer leaves, it upgrades, or the
/// server shuts down.
pub async fn serve(
    stream: TcpStream,
    remote: SocketAddr,
    ctx: Arc<HttpContext>,
    limits: HttpLimits,
) {
    let _ = stream.set_nodelay(true);
    let cork = Cork::of(&stream);
    let service_ctx = Arc::clone(&ctx);
    let service =
        service_fn(move |request| router::route(request, remote, cork, Arc::clone(&service_ctx)));
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, %remote, "HTTP connection ended with an error");
            }
        }
        _ = ctx.shutdown.cancelled() => {
            // Keep answering (health says "stopping", each answer closes the
            // connection) until the WebSocket clients have drained.
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, %remote, "HTTP connection ended with an error");
                    }
                    return;
                }
                _ = ctx.websockets.wait() => {}
            }
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), connection).await;
        }
    }
}
