//! Client → server frames. Only `connect` exists; everything else is answered
//! with an error frame and the socket stays open (a server-side close would send
//! the d-zone page to its next fallback host for good).

use super::errors;
use super::pyjson::{py_str, py_strip, py_truthy};
use super::python_json;
use serde_json::{Map, Value};

/// The id every client gets when it names no server.
pub const DEFAULT_SERVER: &str = "default";

/// A decoded `connect` request.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectRequest {
    /// Normalized requested id (`"default"` when missing, null or blank).
    pub server: String,
    /// Legacy password, kept only when truthy (it is echoed in `request`).
    pub password: Option<Value>,
    /// OAuth access token, kept only when truthy.
    pub discord_token: Option<Value>,
    /// The `/users/@me` object, kept only when truthy (may not be an object).
    pub discord_user: Option<Value>,
}

/// What a client frame asks for, or the error string to answer it with.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientFrame {
    Connect(Box<ConnectRequest>),
    /// The frame is answered with this error message.
    Invalid(&'static str),
}

/// Decodes a text frame.
pub fn parse_text(text: &str) -> ClientFrame {
    let parsed =
        serde_json::from_str(text).or_else(|error| match python_json::rewrite_extensions(text) {
            Some(rewritten) => serde_json::from_str(&rewritten),
            None => Err(error),
        });
    let Ok(value) = parsed else {
        return ClientFrame::Invalid(errors::INVALID_JSON);
    };
    let Value::Object(frame) = value else {
        return ClientFrame::Invalid(errors::UNKNOWN_EVENT_TYPE);
    };
    if frame.get("type").and_then(Value::as_str) != Some("connect") {
        return ClientFrame::Invalid(errors::UNKNOWN_EVENT_TYPE);
    }
    let empty = Map::new();
    let data = match frame.get("data") {
        Some(Value::Object(data)) => data,
        _ => &empty,
    };
    ClientFrame::Connect(Box::new(ConnectRequest {
        server: normalize_server_id(data.get("server")),
        password: truthy(data.get("password")),
        discord_token: truthy(data.get("discordToken")),
        discord_user: truthy(data.get("discordUser")),
    }))
}

/// Decodes a binary frame: UTF-8 text, then like a text frame.
pub fn parse_binary(bytes: &[u8]) -> ClientFrame {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_text(text),
        Err(_) => ClientFrame::Invalid(errors::INVALID_BINARY_ENCODING),
    }
}

/// Missing, null or blank → `"default"`; otherwise Python's `str(value).strip()`.
pub fn normalize_server_id(value: Option<&Value>) -> String {
    let text = match value {
        None | Some(Value::Null) => return DEFAULT_SERVER.to_owned(),
        Some(value) => py_str(value),
    };
    let stripped = py_strip(&text);
    if stripped.is_empty() {
        DEFAULT_SERVER.to_owned()
    } else {
        stripped.to_owned()
    }
}

fn truthy(value: Option<&Value>) -> Option<Value> {
    value.filter(|v| py_truthy(v)).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn connect(text: &str) -> ConnectRequest {
        match parse_text(text) {
            ClientFrame::Connect(request) => *request,
            other => panic!("expected connect, got {other:?}"),
        }
    }

    #[test]
    fn server_id_normalization_follows_upstream() {
        let cases = [
            (r#"{"type":"connect","data":{}}"#, "default"),
            (r#"{"type":"connect","data":{"server":null}}"#, "default"),
            (r#"{"type":"connect","data":{"server":"   "}}"#, "default"),
            (
                r#"{"type":"connect","data":{"server":"  dworld \n"}}"#,
                "dworld",
            ),
            (r#"{"type":"connect","data":{"server":123}}"#, "123"),
            (r#"{"type":"connect","data":{"server":1.0}}"#, "1.0"),
            (r#"{"type":"connect","data":{"server":true}}"#, "True"),
            (r#"{"type":"connect","data":{"server":["a"]}}"#, "['a']"),
        ];
        for (text, expected) in cases {
            assert_eq!(connect(text).server, expected, "{text}");
        }
    }

    #[test]
    fn malformed_frames_get_error_strings() {
        assert_eq!(parse_text("{"), ClientFrame::Invalid(errors::INVALID_JSON));
        assert_eq!(parse_text(""), ClientFrame::Invalid(errors::INVALID_JSON));
        for text in [
            "[1]",
            "5",
            "\"x\"",
            "null",
            "{}",
            r#"{"type":"Connect"}"#,
            r#"{"type":1}"#,
        ] {
            assert_eq!(
                parse_text(text),
                ClientFrame::Invalid(errors::UNKNOWN_EVENT_TYPE),
                "{text}"
            );
        }
        assert_eq!(
            parse_binary(&[0xff, 0xfe]),
            ClientFrame::Invalid(errors::INVALID_BINARY_ENCODING)
        );
    }

    #[test]
    fn missing_or_non_object_data_joins_default() {
        for text in [
            r#"{"type":"connect"}"#,
            r#"{"type":"connect","data":[1]}"#,
            r#"{"type":"connect","data":"x"}"#,
        ] {
            assert_eq!(connect(text).server, "default", "{text}");
        }
    }

    #[test]
    fn auth_fields_are_kept_only_when_truthy() {
        let request = connect(
            r#"{"type":"connect","data":{"server":"oauth","password":"","discordToken":"t","discordUser":{"id":"1"}}}"#,
        );
        assert_eq!(request.password, None);
        assert_eq!(request.discord_token, Some(json!("t")));
        assert_eq!(request.discord_user, Some(json!({"id": "1"})));
    }

    #[test]
    fn binary_frames_decode_as_text() {
        assert_eq!(
            parse_binary(br#"{"type":"connect","data":{"server":"docs"}}"#),
            parse_text(r#"{"type":"connect","data":{"server":"docs"}}"#)
        );
    }

    #[test]
    fn python_float_constants_are_accepted() {
        assert_eq!(
            connect(r#"{"type":"connect","data":{"server":"docs","x":NaN}}"#).server,
            "docs"
        );
        assert_eq!(
            connect(r#"{"type":"connect","data":{"server":-Infinity}}"#).server,
            "-inf"
        );
        assert_eq!(
            connect(r#"{"type":"connect","data":{"server":"NaN \"Infinity\""}}"#).server,
            "NaN \"Infinity\""
        );
        assert_eq!(
            parse_text(r#"{"type":"connect","data":{"server":Nan}}"#),
            ClientFrame::Invalid(errors::INVALID_JSON)
        );
    }

    #[test]
    fn lone_surrogates_are_accepted_like_python() {
        assert_eq!(
            connect(r#"{"type":"connect","data":{"server":"\ud800"}}"#).server,
            "\u{fffd}"
        );
    }

    #[test]
    fn duplicate_keys_last_wins() {
        assert_eq!(
            connect(r#"{"type":"x","type":"connect","data":{"server":"a","server":"b"}}"#).server,
            "b"
        );
    }
}
