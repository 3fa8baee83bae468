//! Answers for the two moments a client talks to the provider: opening the
//! socket (`server-list`) and asking to `connect` (`server-join` or an error).

use super::WsContext;
use crate::metrics::{timed_call, CallFailure};
use crate::protocol::client::ConnectRequest;
use crate::protocol::errors;
use crate::protocol::frames::{self, ServerJoin};
use crate::protocol::pyjson::py_truthy;
use crate::protocol::servers::{check_access, find_server, public_server_list, Access};
use crate::provider::{Callback, ProviderFuture};
use serde_json::Value;

/// A successful join, ready to be enqueued.
pub(super) struct Joined {
    /// Mapping key of the joined server (membership and broadcast routing).
    pub key: String,
    /// The encoded `server-join` frame.
    pub frame: String,
}

/// The first frame of every connection. A failing provider yields an empty
/// list rather than a dropped socket.
pub(super) async fn server_list(ctx: &WsContext) -> String {
    match call(ctx, Callback::ServerData, ctx.provider.server_data()).await {
        Ok(data) => frames::server_list(&public_server_list(&data.servers)),
        Err(_) => frames::server_list(&Value::Object(Default::default())),
    }
}

/// Resolves a `connect` request to a `server-join` frame or an error string.
pub(super) async fn connect(
    ctx: &WsContext,
    request: &ConnectRequest,
) -> Result<Joined, &'static str> {
    let provider = &ctx.provider;
    let data = call(ctx, Callback::ServerData, provider.server_data())
        .await
        .map_err(|_| errors::CANNOT_CONNECT)?;
    let matched = find_server(&data.servers, &request.server).ok_or(errors::CANNOT_CONNECT)?;
    match check_access(&matched, request, data.from_mock) {
        Access::Granted => {}
        Access::Denied(message) => return Err(message),
        Access::Validate { token, user } => {
            let verdict = call(
                ctx,
                Callback::ValidateDiscordUser,
                provider.validate_discord_user(token, user, matched.key),
            )
            .await;
            if !matches!(verdict, Ok(None) | Ok(Some(true))) {
                return Err(errors::AUTH_FAILED);
            }
        }
    }
    // Both at once: with Python callbacks they reach the bot's loop together.
    let (users, client_id) = tokio::join!(
        call(ctx, Callback::UserData, provider.user_data(matched.key)),
        call(ctx, Callback::ClientId, provider.client_id(matched.key)),
    );
    let users = users.map_err(|_| errors::CANNOT_CONNECT)?;
    let client_id = client_id.ok().flatten().filter(py_truthy);
    let frame = frames::server_join(&ServerJoin {
        users_json: users.as_json(),
        requested: &request.server,
        password: request.password.as_ref(),
        server_name: matched.name,
        client_id: client_id.as_ref(),
    });
    Ok(Joined {
        key: matched.key.to_owned(),
        frame,
    })
}

/// Awaits one provider call within the callback timeout; failures are logged
/// and, like the call's duration, counted in the metrics.
async fn call<T>(
    ctx: &WsContext,
    callback: Callback,
    future: ProviderFuture<'_, T>,
) -> Result<T, CallFailure> {
    let limit = ctx.config.callback_timeout;
    let stats = ctx.hub.metrics().callbacks();
    let result = timed_call(stats, &*ctx.provider, callback, limit, future).await;
    if let Err(error) = &result {
        tracing::error!(callback = callback.name(), %error, "data provider failed");
    }
    result
}
