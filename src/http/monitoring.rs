//! `/api/health` and `/metrics`: answered from counters in memory, before any
//! callback, so a probe or a scrape never waits on the bot's event loop.

use super::{responses, Body, HttpContext};
use crate::metrics;
use bytes::Bytes;
use hyper::header::{HeaderValue, CACHE_CONTROL};
use hyper::{Response, StatusCode};

pub const HEALTH_PATH: &str = "/api/health";
pub const METRICS_PATH: &str = "/metrics";

/// The answer for a monitoring path; `None` for any other path.
pub fn answer(ctx: &HttpContext, path: &str) -> Option<Response<Body>> {
    match path {
        HEALTH_PATH => Some(health(ctx)),
        METRICS_PATH => Some(scrape(ctx)),
        _ => None,
    }
}

/// 200 `serving`, or 503 `stopping` once a stop has begun (load balancers
/// take the instance out while its WebSocket clients drain).
fn health(ctx: &HttpContext) -> Response<Body> {
    let (status, state) = if ctx.shutdown.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "stopping")
    } else {
        (StatusCode::OK, "serving")
    };
    let connections = ctx.ws.hub.metrics().connections_open();
    let body = format!(
        r#"{{"status": "{state}", "version": "{}", "connections": {connections}}}"#,
        ctx.version
    );
    let mut response = responses::json_status(status, Bytes::from(body));
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn scrape(ctx: &HttpContext) -> Response<Body> {
    let text = ctx.ws.hub.render_metrics(ctx.version);
    responses::bytes_response(
        StatusCode::OK,
        metrics::CONTENT_TYPE,
        Bytes::from(text),
        false,
    )
}
