//! WebSocket connections after the HTTP upgrade: one task reads and handles
//! client frames, one writes the connection's bounded outbound queue.

mod config;
mod connection;
mod join;
mod keepalive;
mod wire;
mod writer;

pub use config::WsConfig;
pub use connection::serve;

use crate::hub::Hub;
use crate::provider::Provider;
use std::sync::Arc;

/// What every connection of one running server shares.
pub struct WsContext {
    pub hub: Arc<Hub>,
    pub provider: Arc<dyn Provider>,
    pub config: WsConfig,
}
