//! An echo server on the d-back WebSocket stack, for the Autobahn conformance
//! suite (see `tests/test_conformance.py`). Usage: `conformance_echo [PORT]`;
//! prints `listening on PORT` once bound and serves until killed.

use d_back::http::connection::HttpLimits;
use d_back::http::{AccessPolicy, StaticRoot};
use d_back::hub::Hub;
use d_back::provider::MockProvider;
use d_back::server::{Server, ServerParts};
use d_back::ws::WsConfig;
use std::sync::Arc;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .nth(1)
        .map(|arg| arg.parse::<u16>())
        .transpose()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?
        .unwrap_or(0);
    let parts = ServerParts {
        hub: Arc::new(Hub::new()),
        provider: Arc::new(MockProvider),
        static_root: Arc::new(StaticRoot::new("")),
        ws: WsConfig {
            echo: true,
            // The suite's limits section sends messages of up to 16 MiB.
            max_message_size: 64 << 20,
            max_frame_size: 64 << 20,
            queue_frames: 4096,
            ..WsConfig::default()
        },
        http: HttpLimits::default(),
        access: AccessPolicy::default(),
    };
    let server = Server::bind("127.0.0.1", port, parts).await?;
    println!("listening on {}", server.local_addrs()[0].port());
    std::future::pending::<()>().await;
    Ok(())
}
