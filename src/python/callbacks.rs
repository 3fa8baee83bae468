//! The bot's Python callbacks as a [`Provider`], with the mock data standing in
//! for any callback that is not registered.
//!
//! Callbacks run on the asyncio loop that started the server (discord.py and
//! Red's `Config` are bound to it), started in batches by [`LoopCalls`].

use super::loop_calls::{LoopCalls, Reply};
use crate::protocol::pyjson;
use crate::provider::{
    Callback, MockProvider, Provider, ProviderError, ProviderFuture, ServerData, SingleFlight,
    StaticOverride, UserList,
};
use pyo3::prelude::*;
use serde_json::Value;
use std::sync::{Arc, RwLock};

/// The five registrable callbacks, by the names the Python layer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    ServerData,
    UserData,
    ValidateDiscordUser,
    ClientId,
    StaticRequest,
}

impl Slot {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "get_server_data" => Self::ServerData,
            "get_user_data" => Self::UserData,
            "validate_discord_user" => Self::ValidateDiscordUser,
            "get_client_id" => Self::ClientId,
            "static_request" => Self::StaticRequest,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::ServerData => "on_get_server_data",
            Self::UserData => "on_get_user_data",
            Self::ValidateDiscordUser => "on_validate_discord_user",
            Self::ClientId => "on_get_client_id",
            Self::StaticRequest => "on_static_request",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// How the bridge should convert the callback's result.
    pub fn mode(self) -> &'static str {
        match self {
            Self::ValidateDiscordUser => "bool",
            Self::StaticRequest => "static",
            _ => "json",
        }
    }
}

/// What a shared call hands every request: a callback's result (`None`: no
/// callback registered), without copying it.
type Shared<T> = Result<Option<Arc<T>>, ProviderError>;

/// Registered callbacks and the loop they run on.
#[derive(Default)]
pub struct CallbackProvider {
    /// In an `Arc` so a call can hold its callback without the GIL.
    slots: RwLock<[Option<Arc<Py<PyAny>>>; 5]>,
    calls: Arc<LoopCalls>,
    /// Browsers connecting or joining at the same moment share one call of the
    /// data callbacks (per guild for users and client id); nothing is cached.
    shared_server_calls: SingleFlight<(), Shared<Value>>,
    shared_guild_calls: SingleFlight<(Slot, String), Shared<str>>,
}

impl CallbackProvider {
    pub fn set(&self, slot: Slot, callback: Option<Py<PyAny>>) {
        self.slots.write().unwrap_or_else(|e| e.into_inner())[slot.index()] =
            callback.map(Arc::new);
    }

    fn callback(&self, slot: Slot) -> Option<Arc<Py<PyAny>>> {
        self.slots.read().unwrap_or_else(|e| e.into_inner())[slot.index()].clone()
    }

    fn is_set(&self, slot: Slot) -> bool {
        self.slots.read().unwrap_or_else(|e| e.into_inner())[slot.index()].is_some()
    }

    /// The queue the loop's drain function takes calls from.
    pub fn calls(&self) -> Arc<LoopCalls> {
        Arc::clone(&self.calls)
    }

    /// Calls the callback in `slot` with JSON `args`; `None` if none is registered.
    async fn call(&self, slot: Slot, args: Value) -> Result<Option<Reply>, ProviderError> {
        let Some(callback) = self.callback(slot) else {
            return Ok(None);
        };
        let pending = self.calls.submit(slot, callback, pyjson::dumps(&args))?;
        pending.outcome().await.map(Some)
    }

    /// Calls a data callback; its result comes back as `json.dumps` text.
    async fn call_json(&self, slot: Slot, args: Value) -> Result<Option<String>, ProviderError> {
        match self.call(slot, args).await? {
            None => Ok(None),
            Some(Reply::Json(text)) => Ok(Some(text)),
            Some(_) => Err(unexpected(slot)),
        }
    }

    /// [`Self::call_json`] for a callback taking one guild key, sharing the
    /// call with identical requests already in flight.
    async fn call_json_for_guild(
        &self,
        slot: Slot,
        key: &str,
    ) -> Result<Option<Arc<str>>, ProviderError> {
        self.shared_guild_calls
            .run(&(slot, key.to_owned()), || async {
                Ok(self.call_json(slot, key_arg(key)).await?.map(Arc::from))
            })
            .await
    }
}

fn parse(slot: Slot, text: &str) -> Result<Value, ProviderError> {
    serde_json::from_str(text).map_err(|e| {
        ProviderError(format!(
            "{} returned data that is not valid JSON: {e}",
            slot.name()
        ))
    })
}

/// A reply of the wrong kind for its callback (a bug, not a user error).
fn unexpected(slot: Slot) -> ProviderError {
    ProviderError(format!("{}: unexpected kind of result", slot.name()))
}

fn key_arg(key: &str) -> Value {
    Value::Array(vec![Value::String(key.to_owned())])
}

impl Provider for CallbackProvider {
    fn server_data(&self) -> ProviderFuture<'_, ServerData> {
        Box::pin(async move {
            let shared = self.shared_server_calls.run(&(), || async {
                let text = self
                    .call_json(Slot::ServerData, Value::Array(Vec::new()))
                    .await?;
                text.map(|text| parse(Slot::ServerData, &text).map(Arc::new))
                    .transpose()
            });
            Ok(match shared.await? {
                Some(servers) => ServerData {
                    servers,
                    from_mock: false,
                },
                None => ServerData {
                    servers: Arc::new(MockProvider.servers()),
                    from_mock: true,
                },
            })
        })
    }

    fn user_data<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, UserList> {
        Box::pin(async move {
            Ok(match self.call_json_for_guild(Slot::UserData, key).await? {
                Some(text) => UserList::from_json_dumps(text),
                None => UserList::from_value(&MockProvider.users(key)),
            })
        })
    }

    fn validate_discord_user<'a>(
        &'a self,
        token: &'a Value,
        user: &'a Value,
        key: &'a str,
    ) -> ProviderFuture<'a, Option<bool>> {
        Box::pin(async move {
            let args = Value::Array(vec![
                token.clone(),
                user.clone(),
                Value::String(key.to_owned()),
            ]);
            match self.call(Slot::ValidateDiscordUser, args).await? {
                None => Ok(None),
                Some(Reply::Bool(verdict)) => Ok(Some(verdict)),
                Some(_) => Err(unexpected(Slot::ValidateDiscordUser)),
            }
        })
    }

    fn client_id<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, Option<Value>> {
        Box::pin(async move {
            match self.call_json_for_guild(Slot::ClientId, key).await? {
                Some(text) => parse(Slot::ClientId, &text).map(Some),
                None => Ok(None),
            }
        })
    }

    fn static_override<'a>(&'a self, path: &'a str) -> ProviderFuture<'a, Option<StaticOverride>> {
        Box::pin(async move {
            match self.call(Slot::StaticRequest, key_arg(path)).await? {
                None => Ok(None),
                Some(Reply::Static(over)) => Ok(over),
                Some(_) => Err(unexpected(Slot::StaticRequest)),
            }
        })
    }

    fn mock_events(&self) -> bool {
        !self.is_set(Slot::ServerData) && !self.is_set(Slot::UserData)
    }

    fn served_by_callback(&self, callback: Callback) -> bool {
        self.is_set(match callback {
            Callback::ServerData => Slot::ServerData,
            Callback::UserData => Slot::UserData,
            Callback::ClientId => Slot::ClientId,
            Callback::ValidateDiscordUser => Slot::ValidateDiscordUser,
            Callback::StaticRequest => Slot::StaticRequest,
        })
    }
}
