//! The bot's Python callbacks as a [`Provider`], with the mock data standing in
//! for any callback that is not registered.
//!
//! Callbacks run on the asyncio loop that started the server (discord.py and
//! Red's `Config` are bound to it), started in batches by [`LoopCalls`].

use super::loop_calls::{LoopCalls, Reply};
use crate::protocol::pyjson;
use crate::provider::{
    Callback, MockProvider, Provider, ProviderError, ProviderFuture, ServerData, SingleFlight,
    StaticOverride,
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

/// Registered callbacks and the loop they run on.
#[derive(Default)]
pub struct CallbackProvider {
    /// In an `Arc` so a call can hold its callback without the GIL.
    slots: RwLock<[Option<Arc<Py<PyAny>>>; 5]>,
    calls: Arc<LoopCalls>,
    /// Browsers connecting or joining at the same moment share one call of the
    /// data callbacks (per guild for users and client id); nothing is cached.
    shared_calls: SingleFlight<(Slot, String), Result<Option<Value>, ProviderError>>,
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

    /// [`Self::call_json`] for a callback taking nothing or one guild key,
    /// sharing the call with identical requests already in flight.
    async fn call_json_shared(
        &self,
        slot: Slot,
        key: Option<&str>,
    ) -> Result<Option<Value>, ProviderError> {
        let args = Value::Array(
            key.map(|k| Value::String(k.to_owned()))
                .into_iter()
                .collect(),
        );
        let flight_key = (slot, key.unwrap_or_default().to_owned());
        self.shared_calls
            .run(&flight_key, || self.call_json(slot, args.clone()))
            .await
    }

    /// Calls a data callback whose result comes back as `json.dumps` text.
    async fn call_json(&self, slot: Slot, args: Value) -> Result<Option<Value>, ProviderError> {
        let text = match self.call(slot, args).await? {
            None => return Ok(None),
            Some(Reply::Json(text)) => text,
            Some(_) => return Err(unexpected(slot)),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            ProviderError(format!(
                "{} returned data that is not valid JSON: {e}",
                slot.name()
            ))
        })
    }
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
            Ok(match self.call_json_shared(Slot::ServerData, None).await? {
                Some(servers) => ServerData {
                    servers,
                    from_mock: false,
                },
                None => ServerData {
                    servers: MockProvider.servers(),
                    from_mock: true,
                },
            })
        })
    }

    fn user_data<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, Value> {
        Box::pin(async move {
            Ok(
                match self.call_json_shared(Slot::UserData, Some(key)).await? {
                    Some(users) => users,
                    None => MockProvider.users(key),
                },
            )
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
        Box::pin(async move { self.call_json_shared(Slot::ClientId, Some(key)).await })
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
