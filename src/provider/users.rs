//! A server's user mapping, kept as the JSON text `server-join` carries.
//!
//! Clients get the mapping verbatim, so the core never needs to look inside a
//! callback's user data: the `json.dumps` text it came as is what goes out,
//! shared by every connection joining at the same moment without a copy.

use crate::protocol::pyjson;
use serde_json::Value;
use std::sync::Arc;

/// The users of one server as encoded JSON (cheap to clone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserList(Arc<str>);

impl UserList {
    /// Encodes `users` as `json.dumps` would.
    pub fn from_value(users: &Value) -> Self {
        Self(pyjson::dumps(users).into())
    }

    /// Takes text that `json.dumps` produced (so it is valid JSON, and already
    /// byte for byte what the frame must contain).
    pub fn from_json_dumps(text: Arc<str>) -> Self {
        Self(text)
    }

    /// The encoded mapping.
    pub fn as_json(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_value_is_encoded_like_json_dumps() {
        let users = UserList::from_value(&json!({"1": {"uid": "1", "username": "é"}}));
        assert_eq!(
            users.as_json(),
            r#"{"1": {"uid": "1", "username": "\u00e9"}}"#
        );
    }
}
