//! Deciding whether a request is a WebSocket upgrade, and answering its handshake.

use super::responses;
use super::Body;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode, Version};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Upstream's rule: `Upgrade` is `websocket` and `Connection` mentions `upgrade`
/// (both case-insensitive); the path does not matter.
pub fn wants_upgrade<B>(request: &Request<B>) -> bool {
    let headers = request.headers();
    let upgrade = header_text(headers, header::UPGRADE).to_ascii_lowercase();
    let connection = header_text(headers, header::CONNECTION).to_ascii_lowercase();
    upgrade == "websocket" && connection.contains("upgrade")
}

/// The `101 Switching Protocols` answer, or a 400 saying what is wrong.
pub fn handshake_response<B>(request: &Request<B>) -> Response<Body> {
    match accept_key(request) {
        Ok(accept) => switching_protocols(accept),
        Err(reason) => responses::bad_request(&format!(
            "Failed to open a WebSocket connection: {reason}.\n"
        )),
    }
}

fn accept_key<B>(request: &Request<B>) -> Result<String, String> {
    if request.version() != Version::HTTP_11 {
        return Err("unsupported HTTP version".to_owned());
    }
    let headers = request.headers();
    let key = single_header(headers, header::SEC_WEBSOCKET_KEY, "Sec-WebSocket-Key")?;
    if !is_valid_key(key) {
        return Err(format!(
            "invalid Sec-WebSocket-Key header: {}",
            String::from_utf8_lossy(key.as_bytes())
        ));
    }
    let version = single_header(
        headers,
        header::SEC_WEBSOCKET_VERSION,
        "Sec-WebSocket-Version",
    )?;
    if version.as_bytes() != b"13" {
        return Err(format!(
            "invalid Sec-WebSocket-Version header: {}",
            String::from_utf8_lossy(version.as_bytes())
        ));
    }
    Ok(derive_accept_key(key.as_bytes()))
}

/// The one value of a header that must appear exactly once (RFC 6455 §11.3).
fn single_header<'a>(
    headers: &'a HeaderMap,
    name: header::HeaderName,
    label: &str,
) -> Result<&'a HeaderValue, String> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Err(format!("missing {label} header")),
        (Some(value), None) => Ok(value),
        (Some(_), Some(_)) => Err(format!(
            "invalid {label} header: more than one {label} header found"
        )),
    }
}

/// RFC 6455: the key is the base64 encoding of 16 bytes.
fn is_valid_key(key: &HeaderValue) -> bool {
    data_encoding::BASE64
        .decode(key.as_bytes())
        .is_ok_and(|raw| raw.len() == 16)
}

fn switching_protocols(accept: String) -> Response<Body> {
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(
        header::SERVER,
        HeaderValue::from_static(responses::SERVER_NAME),
    );
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> String {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::get("/ws");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("request")
    }

    #[test]
    fn upgrade_detection_is_case_insensitive() {
        assert!(wants_upgrade(&request(&[
            ("Upgrade", "WebSocket"),
            ("Connection", "keep-alive, Upgrade")
        ])));
        assert!(!wants_upgrade(&request(&[("Upgrade", "websocket")])));
        assert!(!wants_upgrade(&request(&[
            ("Upgrade", "h2c"),
            ("Connection", "upgrade")
        ])));
    }

    #[test]
    fn handshake_validates_key_and_version() {
        let good = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ];
        let response = handshake_response(&request(&good));
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(
            response.headers()[header::SEC_WEBSOCKET_ACCEPT],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(
            accept_key(&request(&good[..2])),
            Err("missing Sec-WebSocket-Key header".to_owned())
        );
        let mut bad_key = good;
        bad_key[2].1 = "short";
        assert_eq!(
            accept_key(&request(&bad_key)),
            Err("invalid Sec-WebSocket-Key header: short".to_owned())
        );
        let mut twice = good.to_vec();
        twice.push(("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="));
        assert_eq!(
            accept_key(&request(&twice)),
            Err(
                "invalid Sec-WebSocket-Key header: more than one Sec-WebSocket-Key header found"
                    .to_owned()
            )
        );
        let mut bad_version = good;
        bad_version[3].1 = "8";
        assert_eq!(
            accept_key(&request(&bad_version)),
            Err("invalid Sec-WebSocket-Version header: 8".to_owned())
        );
    }
}
