//! Server → client frames, encoded once as `json.dumps` text.
//!
//! Key order is part of the contract: `type`, then `server` (broadcasts only),
//! then `data`.

use super::pyjson::{write_str, write_value};
use serde_json::Value;

/// `{"type": "server-list", "data": <servers>}`.
pub fn server_list(servers: &Value) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(r#"{"type": "server-list", "data": "#);
    write_value(&mut out, servers);
    out.push('}');
    out
}

/// The parts of a successful join's reply.
pub struct ServerJoin<'a> {
    /// The user mapping, already encoded.
    pub users_json: &'a str,
    /// The id as requested (normalized), e.g. `"default"`, not the resolved one.
    pub requested: &'a str,
    /// Echoed only when the client sent a truthy legacy `password`.
    pub password: Option<&'a Value>,
    pub server_name: &'a Value,
    /// Present only when the provider returned a truthy value.
    pub client_id: Option<&'a Value>,
}

/// `{"type": "server-join", "data": {"users", "request", "serverName"[, "clientId"]}}`.
pub fn server_join(join: &ServerJoin<'_>) -> String {
    let mut out = String::with_capacity(join.users_json.len() + 192);
    out.push_str(r#"{"type": "server-join", "data": {"users": "#);
    out.push_str(join.users_json);
    out.push_str(r#", "request": {"server": "#);
    write_str(&mut out, join.requested);
    if let Some(password) = join.password {
        out.push_str(r#", "password": "#);
        write_value(&mut out, password);
    }
    out.push_str(r#"}, "serverName": "#);
    write_value(&mut out, join.server_name);
    if let Some(client_id) = join.client_id {
        out.push_str(r#", "clientId": "#);
        write_value(&mut out, client_id);
    }
    out.push_str("}}");
    out
}

/// `{"type": "error", "data": {"message": <message>}}`.
pub fn error(message: &str) -> String {
    let mut out = String::with_capacity(48 + message.len());
    out.push_str(r#"{"type": "error", "data": {"message": "#);
    write_str(&mut out, message);
    out.push_str("}}");
    out
}

/// A presence change: `{"type": "presence", "server", "data": {"uid", "status"
/// [, "username"][, "roleColor"][, "delete": true]}}`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Presence<'a> {
    pub server: &'a str,
    pub uid: &'a str,
    pub status: &'a str,
    pub username: Option<&'a str>,
    pub role_color: Option<&'a str>,
    /// The user leaves the world.
    pub delete: bool,
}

/// A mock-mode presence event: `{"type": "presence", "server", "data": {"uid", "status"}}`.
pub fn presence(server: &str, uid: &str, status: &str) -> String {
    presence_change(&Presence {
        server,
        uid,
        status,
        ..Presence::default()
    })
}

/// The frame `broadcast_presence` sends.
pub fn presence_change(change: &Presence<'_>) -> String {
    let mut out = String::with_capacity(128);
    out.push_str(r#"{"type": "presence", "server": "#);
    write_str(&mut out, change.server);
    out.push_str(r#", "data": {"uid": "#);
    write_str(&mut out, change.uid);
    out.push_str(r#", "status": "#);
    write_str(&mut out, change.status);
    if let Some(username) = change.username {
        out.push_str(r#", "username": "#);
        write_str(&mut out, username);
    }
    if let Some(color) = change.role_color {
        out.push_str(r#", "roleColor": "#);
        write_str(&mut out, color);
    }
    if change.delete {
        out.push_str(r#", "delete": true"#);
    }
    out.push_str("}}");
    out
}

/// `{"type": "update-clientid", "server", "data": {"clientId"}}`.
pub fn client_id_update(server: &str, client_id: &str) -> String {
    let mut out = String::with_capacity(96);
    out.push_str(r#"{"type": "update-clientid", "server": "#);
    write_str(&mut out, server);
    out.push_str(r#", "data": {"clientId": "#);
    write_str(&mut out, client_id);
    out.push_str("}}");
    out
}

/// A chat message (mock mode, `broadcast_message`):
/// `{"type": "message", "server", "data": {"uid", "message", "channel"}}`.
pub fn message(server: &str, uid: &str, message: &str, channel: &str) -> String {
    let mut out = String::with_capacity(160);
    out.push_str(r#"{"type": "message", "server": "#);
    write_str(&mut out, server);
    out.push_str(r#", "data": {"uid": "#);
    write_str(&mut out, uid);
    out.push_str(r#", "message": "#);
    write_str(&mut out, message);
    out.push_str(r#", "channel": "#);
    write_str(&mut out, channel);
    out.push_str("}}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_frame_is_byte_exact() {
        assert_eq!(
            error("Invalid JSON"),
            r#"{"type": "error", "data": {"message": "Invalid JSON"}}"#
        );
    }

    #[test]
    fn server_join_has_upstream_shape_and_order() {
        let name = json!("D-World");
        let frame = server_join(&ServerJoin {
            users_json: r#"{"1": {"uid": "1", "username": "a"}}"#,
            requested: "default",
            password: None,
            server_name: &name,
            client_id: None,
        });
        assert_eq!(
            frame,
            r#"{"type": "server-join", "data": {"users": {"1": {"uid": "1", "username": "a"}}, "request": {"server": "default"}, "serverName": "D-World"}}"#
        );
        let pw = json!("pw");
        let cid = json!(42);
        let frame = server_join(&ServerJoin {
            users_json: "{}",
            requested: "x",
            password: Some(&pw),
            server_name: &name,
            client_id: Some(&cid),
        });
        assert_eq!(
            frame,
            r#"{"type": "server-join", "data": {"users": {}, "request": {"server": "x", "password": "pw"}, "serverName": "D-World", "clientId": 42}}"#
        );
    }

    #[test]
    fn mock_events_match_broadcast_shapes() {
        assert_eq!(
            presence("k", "u", "idle"),
            r#"{"type": "presence", "server": "k", "data": {"uid": "u", "status": "idle"}}"#
        );
        assert_eq!(
            message("k", "u", "what's up?", "c"),
            r#"{"type": "message", "server": "k", "data": {"uid": "u", "message": "what's up?", "channel": "c"}}"#
        );
    }

    #[test]
    fn presence_extras_follow_in_upstream_order() {
        let frame = presence_change(&Presence {
            server: "k",
            uid: "u",
            status: "online",
            username: Some("Ann"),
            role_color: Some("#fff"),
            delete: true,
        });
        assert_eq!(
            frame,
            r##"{"type": "presence", "server": "k", "data": {"uid": "u", "status": "online", "username": "Ann", "roleColor": "#fff", "delete": true}}"##
        );
        assert_eq!(
            client_id_update("k", "42"),
            r#"{"type": "update-clientid", "server": "k", "data": {"clientId": "42"}}"#
        );
    }

    #[test]
    fn server_list_wraps_data_verbatim() {
        assert_eq!(
            server_list(&json!({"a": {"id": "x"}})),
            r#"{"type": "server-list", "data": {"a": {"id": "x"}}}"#
        );
    }
}
