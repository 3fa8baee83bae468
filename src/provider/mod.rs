//! Where the server's data comes from: a bot's callbacks or the built-in mock.
//!
//! The core only sees this trait; the Python callbacks are one implementation
//! (in the binding layer), [`MockProvider`] another.

mod mock;
mod mock_data;
mod single_flight;
mod users;

pub use mock::{MockEvents, MockProvider};
pub use single_flight::SingleFlight;
pub use users::UserList;

use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed provider answer.
pub type ProviderFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, ProviderError>> + Send + 'a>>;

/// A provider call failed (the callback raised, returned the wrong shape, or timed
/// out). The message goes to the log, never to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError(pub String);

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProviderError {}

/// The server list and where it came from.
#[derive(Debug, Clone)]
pub struct ServerData {
    /// Mapping Discord id → `{id, name, default?, passworded?, ...}`; shared
    /// by every connection asking at the same moment.
    pub servers: Arc<Value>,
    /// True when it is the built-in mock list (enables the mock OAuth bypass).
    pub from_mock: bool,
}

/// A file to serve instead of the default static handling.
#[derive(Debug, Clone, PartialEq)]
pub enum StaticOverride {
    /// Serve this file (relative paths resolve against the working directory).
    File { content_type: String, path: PathBuf },
    /// Serve these bytes.
    Bytes { content_type: String, body: Vec<u8> },
}

/// The provider calls a bot can answer with a callback of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Callback {
    ServerData,
    UserData,
    ClientId,
    ValidateDiscordUser,
    StaticRequest,
}

impl Callback {
    /// Every callback, in a fixed order.
    pub const ALL: [Self; 5] = [
        Self::ServerData,
        Self::UserData,
        Self::ClientId,
        Self::ValidateDiscordUser,
        Self::StaticRequest,
    ];

    /// The callback's name without the `on_` of its registration method.
    pub fn name(self) -> &'static str {
        match self {
            Self::ServerData => "get_server_data",
            Self::UserData => "get_user_data",
            Self::ValidateDiscordUser => "validate_discord_user",
            Self::ClientId => "get_client_id",
            Self::StaticRequest => "static_request",
        }
    }
}

/// The data source behind one server.
pub trait Provider: Send + Sync + 'static {
    /// The server list; fetched on every WebSocket open and every `connect`.
    fn server_data(&self) -> ProviderFuture<'_, ServerData>;

    /// Users of the server with mapping key `key`, sent verbatim in `server-join`.
    fn user_data<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, UserList>;

    /// Checks a Discord OAuth login for a passworded server. `None` means no
    /// validator is registered (any well-formed user is accepted).
    fn validate_discord_user<'a>(
        &'a self,
        token: &'a Value,
        user: &'a Value,
        key: &'a str,
    ) -> ProviderFuture<'a, Option<bool>>;

    /// The Discord application id for OAuth; `None` (or a falsy value) omits it.
    fn client_id<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, Option<Value>>;

    /// A file for an HTTP path (query stripped, not decoded), or `None` for the
    /// default handling.
    fn static_override<'a>(&'a self, path: &'a str) -> ProviderFuture<'a, Option<StaticOverride>>;

    /// Whether joined connections get the built-in mock presence/message events
    /// (only when both server and user data are mock data).
    fn mock_events(&self) -> bool;

    /// Whether calls of `callback` go to code the bot registered (rather than
    /// built-in data); only those are measured in the metrics.
    fn served_by_callback(&self, _callback: Callback) -> bool {
        false
    }
}
