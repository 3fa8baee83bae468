//! Canned HTTP responses.
//!
//! Everything goes through [`bytes_response`] so that every response carries
//! `Server: d-back` and an explicit `Content-Length` (upstream sent neither
//! length nor keep-alive and delimited bodies by closing; spec §7 row 15).

use bytes::Bytes;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, SERVER};
use hyper::{Response, StatusCode};

use crate::http::Body;

/// Value of the `Server` header on every response.
pub const SERVER_NAME: &str = "d-back";

/// Body of every 404, byte-for-byte as upstream.
pub const NOT_FOUND_BODY: &str = "<h1>404 Not Found</h1><p>The requested file was not found.</p>";

/// Builds a response with `Content-Type`, `Content-Length` and `Server`.
///
/// With `head_only` the body is dropped but `Content-Length` still states the
/// length the GET body would have (RFC 9110 §9.3.2). A `content_type` that is
/// not a valid header value (it can come from a Python callback) yields a 500
/// rather than a panic.
pub fn bytes_response(
    status: StatusCode,
    content_type: &str,
    body: Bytes,
    head_only: bool,
) -> Response<Body> {
    let Ok(content_type) = HeaderValue::from_str(content_type) else {
        tracing::warn!(content_type, "invalid Content-Type value; answering 500");
        return internal_error_response(head_only);
    };
    build(status, content_type, body, head_only)
}

fn build(
    status: StatusCode,
    content_type: HeaderValue,
    body: Bytes,
    head_only: bool,
) -> Response<Body> {
    let len = HeaderValue::from(body.len());
    let body = if head_only { Bytes::new() } else { body };
    let mut resp = Response::new(Body::new(body));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, content_type);
    headers.insert(CONTENT_LENGTH, len);
    headers.insert(SERVER, HeaderValue::from_static(SERVER_NAME));
    resp
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    build(
        status,
        HeaderValue::from_static("text/plain"),
        Bytes::from_static(body.as_bytes()),
        false,
    )
}

fn internal_error_response(head_only: bool) -> Response<Body> {
    let resp = text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    if head_only {
        strip_body(resp)
    } else {
        resp
    }
}

/// Drops the body for a HEAD request, keeping every header (incl. `Content-Length`).
pub fn strip_body(resp: Response<Body>) -> Response<Body> {
    let (parts, _) = resp.into_parts();
    Response::from_parts(parts, Body::new(Bytes::new()))
}

/// 404 `text/html` with upstream's exact body.
pub fn not_found() -> Response<Body> {
    build(
        StatusCode::NOT_FOUND,
        HeaderValue::from_static("text/html"),
        Bytes::from_static(NOT_FOUND_BODY.as_bytes()),
        false,
    )
}

/// 403 `text/plain` `Forbidden`.
pub fn forbidden() -> Response<Body> {
    text(StatusCode::FORBIDDEN, "Forbidden")
}

/// 403 `text/plain` with a reason, for a refused WebSocket upgrade.
pub fn forbidden_upgrade(reason: &str) -> Response<Body> {
    reason_text(StatusCode::FORBIDDEN, reason)
}

/// 500 `text/plain` `Internal Server Error`.
pub fn internal_error() -> Response<Body> {
    internal_error_response(false)
}

/// 405 `text/plain` `Method Not Allowed` with `Allow: GET, HEAD`.
pub fn method_not_allowed() -> Response<Body> {
    let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    resp.headers_mut()
        .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    resp
}

/// 400 `text/plain` whose body is exactly `reason`.
pub fn bad_request(reason: &str) -> Response<Body> {
    reason_text(StatusCode::BAD_REQUEST, reason)
}

fn reason_text(status: StatusCode, reason: &str) -> Response<Body> {
    let body = Bytes::copy_from_slice(reason.as_bytes());
    build(status, HeaderValue::from_static("text/plain"), body, false)
}

/// 503 `text/plain` `Service Unavailable`.
pub fn service_unavailable() -> Response<Body> {
    text(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
}

/// 200 `application/json` with the given (already serialized) body.
pub fn json(body: Bytes) -> Response<Body> {
    json_status(StatusCode::OK, body)
}

/// `application/json` with the given status and (already serialized) body.
pub fn json_status(status: StatusCode, body: Bytes) -> Response<Body> {
    build(
        status,
        HeaderValue::from_static("application/json"),
        body,
        false,
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// Collects a response body (test helper, shared with static_files tests).
    pub(crate) async fn body_bytes(resp: Response<Body>) -> Bytes {
        match resp.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(never) => match never {},
        }
    }

    pub(crate) fn header<'a>(resp: &'a Response<Body>, name: &str) -> &'a str {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("<missing>")
    }

    async fn check(resp: Response<Body>, status: u16, ct: &str, body: &str) {
        assert_eq!(resp.status().as_u16(), status);
        assert_eq!(header(&resp, "content-type"), ct);
        assert_eq!(header(&resp, "server"), "d-back");
        assert_eq!(header(&resp, "content-length"), body.len().to_string());
        assert_eq!(body_bytes(resp).await, body.as_bytes());
    }

    #[tokio::test]
    async fn canned_responses() {
        check(not_found(), 404, "text/html", NOT_FOUND_BODY).await;
        check(forbidden(), 403, "text/plain", "Forbidden").await;
        check(internal_error(), 500, "text/plain", "Internal Server Error").await;
        check(bad_request("nope."), 400, "text/plain", "nope.").await;
        check(
            service_unavailable(),
            503,
            "text/plain",
            "Service Unavailable",
        )
        .await;
        let body = r#"{"version": "0.0.18"}"#;
        check(
            json(Bytes::from_static(body.as_bytes())),
            200,
            "application/json",
            body,
        )
        .await;
    }

    #[tokio::test]
    async fn method_not_allowed_has_allow() {
        let resp = method_not_allowed();
        assert_eq!(header(&resp, "allow"), "GET, HEAD");
        check(resp, 405, "text/plain", "Method Not Allowed").await;
    }

    #[tokio::test]
    async fn head_keeps_length_drops_body() {
        let resp = bytes_response(StatusCode::OK, "text/css", Bytes::from_static(b"a{}"), true);
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header(&resp, "content-length"), "3");
        assert_eq!(header(&resp, "content-type"), "text/css");
        assert!(body_bytes(resp).await.is_empty());

        let resp = strip_body(not_found());
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            header(&resp, "content-length"),
            NOT_FOUND_BODY.len().to_string()
        );
        assert!(body_bytes(resp).await.is_empty());
    }

    #[tokio::test]
    async fn invalid_content_type_is_500() {
        let resp = bytes_response(StatusCode::OK, "text/html\r\nX: y", Bytes::new(), false);
        check(resp, 500, "text/plain", "Internal Server Error").await;
        let resp = bytes_response(StatusCode::OK, "bad\n", Bytes::new(), true);
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(header(&resp, "content-length"), "21");
        assert!(body_bytes(resp).await.is_empty());
    }

    #[tokio::test]
    async fn empty_body_has_zero_length() {
        let resp = bytes_response(StatusCode::OK, "text/plain", Bytes::new(), false);
        check(resp, 200, "text/plain", "").await;
    }
}
