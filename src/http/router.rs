//! Routing of one HTTP request: WebSocket upgrade, health and metrics,
//! provider override, `/api/version`, then static files.

use super::{monitoring, responses, static_files, upgrade, Body, HttpContext};
use crate::metrics::{timed_call, CallFailure};
use crate::provider::{Callback, StaticOverride};
use crate::tcp_cork::Cork;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;

/// Answers one request on the shared port.
pub async fn route(
    request: Request<Incoming>,
    remote: SocketAddr,
    cork: Cork,
    ctx: Arc<HttpContext>,
) -> Result<Response<Body>, Infallible> {
    if upgrade::wants_upgrade(&request) && request.method() == Method::GET {
        return Ok(start_websocket(request, remote, cork, ctx));
    }
    let head_only = match *request.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => return Ok(responses::method_not_allowed()),
    };
    let path = request.uri().path();
    let mut response = serve_path(&ctx, path, head_only).await;
    if ctx.shutdown.is_cancelled() {
        // The connection stays open while WebSocket clients drain; this
        // answer is its last.
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(response)
}

async fn serve_path(ctx: &HttpContext, path: &str, head_only: bool) -> Response<Body> {
    if let Some(response) = monitoring::answer(ctx, path) {
        return head(response, head_only);
    }
    let limit = ctx.ws.config.callback_timeout;
    let stats = ctx.ws.hub.metrics().callbacks();
    let provider = &*ctx.ws.provider;
    let answer = provider.static_override(path);
    match timed_call(stats, provider, Callback::StaticRequest, limit, answer).await {
        Ok(None) => {}
        Ok(Some(StaticOverride::File { content_type, path })) => {
            return static_files::serve_file(&path, &content_type, head_only).await;
        }
        Ok(Some(StaticOverride::Bytes { content_type, body })) => {
            return responses::bytes_response(
                StatusCode::OK,
                &content_type,
                Bytes::from(body),
                head_only,
            );
        }
        Err(CallFailure::Error(error)) => {
            tracing::error!(%error, path, "static request callback failed");
            return head(responses::internal_error(), head_only);
        }
        Err(CallFailure::Timeout(_)) => {
            tracing::error!(path, "static request callback timed out");
            return head(responses::internal_error(), head_only);
        }
    }
    if path == "/api/version" {
        let body = format!(r#"{{"version": "{}"}}"#, ctx.version);
        return head(responses::json(Bytes::from(body)), head_only);
    }
    static_files::serve_from_dir(&ctx.static_root.get(), path, head_only).await
}

fn head(response: Response<Body>, head_only: bool) -> Response<Body> {
    if head_only {
        responses::strip_body(response)
    } else {
        response
    }
}

/// Answers the handshake and hands the upgraded socket to a WebSocket task.
fn start_websocket(
    mut request: Request<Incoming>,
    remote: SocketAddr,
    cork: Cork,
    ctx: Arc<HttpContext>,
) -> Response<Body> {
    let remote = ctx.access.client_addr(remote, request.headers());
    if ctx.shutdown.is_cancelled() {
        tracing::info!(%remote, "server stopping; WebSocket refused with 503");
        return responses::service_unavailable();
    }
    if let Err(reason) = ctx.access.check_origin(request.headers()) {
        tracing::info!(%remote, %reason, "WebSocket refused");
        return responses::forbidden_upgrade(&format!(
            "Failed to open a WebSocket connection: {reason}.\n"
        ));
    }
    let response = upgrade::handshake_response(&request);
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return response;
    }
    let Ok(slot) = Arc::clone(&ctx.websocket_slots).try_acquire_owned() else {
        tracing::warn!(%remote, "connection limit reached; WebSocket refused with 503");
        return responses::service_unavailable();
    };
    let on_upgrade = hyper::upgrade::on(&mut request);
    let ws = Arc::clone(&ctx.ws);
    let shutdown = ctx.shutdown.clone();
    ctx.websockets
        .spawn(crate::task::contain_panics("websocket", async move {
            let _slot = slot;
            let upgraded = match on_upgrade.await {
                Ok(upgraded) => upgraded,
                Err(error) => return tracing::debug!(%error, "WebSocket upgrade failed"),
            };
            // The WebSocket layer works on the TCP stream itself (split into
            // owned halves), which is what every accepted connection is.
            match upgraded.downcast::<TokioIo<TcpStream>>() {
                Ok(parts) => {
                    let stream = parts.io.into_inner();
                    // Boxed: inline, the compiler reserves room for it next to
                    // the upgrade's own state, doubling every connection's task.
                    Box::pin(crate::ws::serve(
                        stream,
                        parts.read_buf,
                        remote,
                        ws,
                        shutdown,
                    ))
                    .await;
                }
                Err(_) => tracing::error!("upgraded connection is not a TCP stream"),
            }
        }));
    if ctx.ws.config.sends_server_list() {
        // Released by the connection's writer once the list is written.
        cork.hold();
    }
    response
}
