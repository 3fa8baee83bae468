//! Property tests of the client-frame path: arbitrary input never panics, and
//! what comes out obeys the protocol's rules.

use super::client::{normalize_server_id, parse_binary, parse_text, ClientFrame};
use super::errors;
use super::frames;
use super::pyjson::dumps;
use super::servers::{check_access, find_server, public_server_list};
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// Arbitrary JSON, nested a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((".{0,8}", inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A `connect` frame with arbitrary values in every field a client controls.
fn connect_frame() -> impl Strategy<Value = String> {
    (json_value(), json_value(), json_value(), json_value()).prop_map(
        |(server, password, token, user)| {
            let data = serde_json::json!({
                "server": server, "password": password, "discordToken": token, "discordUser": user,
            });
            serde_json::json!({"type": "connect", "data": data}).to_string()
        },
    )
}

proptest! {
    #[test]
    fn any_text_is_answered_not_panicked(text in ".{0,256}") {
        let _ = parse_text(&text);
    }

    #[test]
    fn any_bytes_are_answered_not_panicked(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        match parse_binary(&bytes) {
            ClientFrame::Invalid(message) if std::str::from_utf8(&bytes).is_err() => {
                prop_assert_eq!(message, errors::INVALID_BINARY_ENCODING);
            }
            _ => {}
        }
    }

    #[test]
    fn any_connect_frame_is_a_connect_with_a_usable_id(frame in connect_frame()) {
        let ClientFrame::Connect(request) = parse_text(&frame) else {
            return Err(TestCaseError::fail("a connect frame must parse as connect"));
        };
        prop_assert!(!request.server.is_empty());
        prop_assert_eq!(request.server.trim(), request.server.as_str());
        // Joining never panics, whatever the auth fields hold.
        let servers = crate::provider::MockProvider.servers();
        if let Some(matched) = find_server(&servers, &request.server) {
            let _ = check_access(&matched, &request, true);
        }
        let _ = frames::error(&request.server);
    }

    #[test]
    fn server_ids_normalize_like_python(value in json_value()) {
        let id = normalize_server_id(Some(&value));
        prop_assert!(!id.is_empty());
        if let Value::String(s) = &value {
            if !s.trim().is_empty() && s.chars().all(|c| !c.is_whitespace() && !('\u{1c}'..='\u{1f}').contains(&c)) {
                prop_assert_eq!(&id, s);
            }
        }
    }

    #[test]
    fn encoding_is_ascii_and_round_trips(value in json_value()) {
        let text = dumps(&value);
        prop_assert!(text.is_ascii());
        let back: Value = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Same shape and strings; numbers may be re-rendered (1e16 → 1e+16).
        prop_assert_eq!(dumps(&back), text);
    }

    #[test]
    fn server_list_never_shows_passwords(servers in json_value()) {
        let public = public_server_list(&servers);
        if let Value::Object(entries) = &public {
            for entry in entries.values() {
                if let Value::Object(fields) = entry {
                    prop_assert!(!fields.contains_key("password"));
                }
            }
        }
    }
}
