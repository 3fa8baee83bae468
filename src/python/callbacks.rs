//! The bot's Python callbacks as a [`Provider`], with the mock data standing in
//! for any callback that is not registered.
//!
//! Callbacks run on the asyncio loop that started the server (discord.py and
//! Red's `Config` are bound to it): a tokio task takes the GIL only long enough
//! to schedule `d_back._bridge.invoke(...)` on that loop, then awaits the result
//! without the GIL.

use super::bridge;
use crate::protocol::pyjson;
use crate::provider::{
    Callback, MockProvider, Provider, ProviderError, ProviderFuture, ServerData, SingleFlight,
    StaticOverride,
};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::RwLock;

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

    fn name(self) -> &'static str {
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
    fn mode(self) -> &'static str {
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
    slots: RwLock<[Option<Py<PyAny>>; 5]>,
    event_loop: RwLock<Option<Py<PyAny>>>,
    /// Browsers connecting or joining at the same moment share one call of the
    /// data callbacks (per guild for users and client id); nothing is cached.
    shared_calls: SingleFlight<(Slot, String), Result<Option<Value>, ProviderError>>,
}

static INVOKE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

impl CallbackProvider {
    pub fn set(&self, slot: Slot, callback: Option<Py<PyAny>>) {
        self.slots.write().unwrap_or_else(|e| e.into_inner())[slot.index()] = callback;
    }

    fn is_set(&self, slot: Slot) -> bool {
        self.slots.read().unwrap_or_else(|e| e.into_inner())[slot.index()].is_some()
    }

    /// Callbacks will run on this loop (the one that awaited `start()`).
    pub fn set_event_loop(&self, event_loop: Py<PyAny>) {
        *self.event_loop.write().unwrap_or_else(|e| e.into_inner()) = Some(event_loop);
    }

    /// Calls the callback in `slot` with JSON `args`; `None` if none is registered.
    async fn call(&self, slot: Slot, args: Value) -> Result<Option<Py<PyAny>>, ProviderError> {
        // Most requests have no callback to run: answer those without the GIL.
        if !self.is_set(slot) {
            return Ok(None);
        }
        let outcome = with_python(slot, |py| {
            let event_loop = self
                .event_loop
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .map(|event_loop| event_loop.clone_ref(py))
                .ok_or_else(|| PyRuntimeError::new_err("the server is not running"))?;
            let Some(callback) = self.slots.read().unwrap_or_else(|e| e.into_inner())[slot.index()]
                .as_ref()
                .map(|cb| cb.clone_ref(py))
            else {
                return Ok(None);
            };
            let invoke = INVOKE.get_or_try_init(py, || {
                PyResult::Ok(py.import("d_back._bridge")?.getattr("invoke")?.unbind())
            })?;
            let args = (callback, slot.name(), slot.mode(), pyjson::dumps(&args));
            let coroutine = invoke.call1(py, args)?.into_bound(py);
            bridge::run_on_loop(py, &event_loop, coroutine).map(Some)
        })?;
        let Some(call) = outcome else {
            return Ok(None);
        };
        let outcome = call.outcome.await;
        call.cancel.disarm();
        match outcome {
            Ok(Ok(value)) => Ok(Some(value)),
            Ok(Err(error)) => with_python(slot, |_| Err(error)),
            Err(_) => Err(ProviderError(format!(
                "{}: the event loop stopped before the callback finished",
                slot.name()
            ))),
        }
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
        let Some(result) = self.call(slot, args).await? else {
            return Ok(None);
        };
        let text: String = with_python(slot, |py| result.extract(py))?;
        serde_json::from_str(&text).map(Some).map_err(|e| {
            ProviderError(format!(
                "{} returned data that is not valid JSON: {e}",
                slot.name()
            ))
        })
    }
}

/// Runs `f` with the GIL for the callback in `slot`, unless the interpreter is
/// shutting down; a Python error becomes a [`ProviderError`] describing it.
fn with_python<T>(
    slot: Slot,
    f: impl FnOnce(Python<'_>) -> PyResult<T>,
) -> Result<T, ProviderError> {
    let Some(_entry) = super::interpreter::enter() else {
        return Err(ProviderError(format!(
            "{}: the interpreter is shutting down",
            slot.name()
        )));
    };
    Python::attach(|py| {
        f(py).map_err(|error| ProviderError(format!("{} failed: {}", slot.name(), error.value(py))))
    })
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
            let Some(verdict) = self.call(Slot::ValidateDiscordUser, args).await? else {
                return Ok(None);
            };
            with_python(Slot::ValidateDiscordUser, |py| verdict.extract::<bool>(py)).map(Some)
        })
    }

    fn client_id<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, Option<Value>> {
        Box::pin(async move { self.call_json_shared(Slot::ClientId, Some(key)).await })
    }

    fn static_override<'a>(&'a self, path: &'a str) -> ProviderFuture<'a, Option<StaticOverride>> {
        Box::pin(async move {
            let Some(result) = self.call(Slot::StaticRequest, key_arg(path)).await? else {
                return Ok(None);
            };
            with_python(Slot::StaticRequest, |py| static_override(result.bind(py)))
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

/// The bridge hands back `None` or `(content_type, path_or_None, bytes_or_None)`.
fn static_override(result: &Bound<'_, PyAny>) -> PyResult<Option<StaticOverride>> {
    if result.is_none() {
        return Ok(None);
    }
    let (content_type, path, body): (String, Option<String>, Option<Vec<u8>>) = result.extract()?;
    Ok(Some(match (path, body) {
        (_, Some(body)) => StaticOverride::Bytes { content_type, body },
        (Some(path), None) => StaticOverride::File {
            content_type,
            path: PathBuf::from(path),
        },
        (None, None) => return Ok(None),
    }))
}
