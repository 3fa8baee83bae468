//! The built-in demo data: four servers and their members, as upstream ships it.

use serde_json::{json, Map, Value};

/// (mapping key, short id, name, default, passworded)
const SERVERS: [(&str, &str, &str, bool, bool); 4] = [
    ("232769614004748288", "dworld", "D-World", true, false),
    ("482241773318701056", "docs", "Docs (WIP)", false, false),
    (
        "123456789012345678",
        "oauth",
        "OAuth2 Protected Server",
        false,
        true,
    ),
    ("987654321098765432", "repos", "My Repos", false, false),
];

/// (server key, uid, username, status, roleColor)
const USERS: [(&str, &str, &str, &str, &str); 27] = [
    (
        "232769614004748288",
        "123456789012345001",
        "vegeta897",
        "online",
        "#ff6b6b",
    ),
    (
        "232769614004748288",
        "123456789012345002",
        "Cog-Creators",
        "idle",
        "#4ecdc4",
    ),
    (
        "232769614004748288",
        "123456789012345003",
        "d-zone-org",
        "dnd",
        "#45b7d1",
    ),
    (
        "232769614004748288",
        "123456789012345004",
        "NNTin",
        "online",
        "#96ceb4",
    ),
    (
        "482241773318701056",
        "223456789012345001",
        "nntin.xyz/me",
        "online",
        "#feca57",
    ),
    (
        "123456789012345678",
        "323456789012345001",
        "NNTin",
        "online",
        "#ff9ff3",
    ),
    (
        "987654321098765432",
        "423456789012345001",
        "me",
        "online",
        "#54a0ff",
    ),
    (
        "987654321098765432",
        "423456789012345002",
        "nntin.github.io",
        "idle",
        "#5f27cd",
    ),
    (
        "987654321098765432",
        "423456789012345003",
        "d-zone",
        "online",
        "#00d2d3",
    ),
    (
        "987654321098765432",
        "423456789012345004",
        "d-back",
        "dnd",
        "#ff6348",
    ),
    (
        "987654321098765432",
        "423456789012345005",
        "d-cogs",
        "online",
        "#ff4757",
    ),
    (
        "987654321098765432",
        "423456789012345006",
        "Cubify-Reddit",
        "offline",
        "#3742fa",
    ),
    (
        "987654321098765432",
        "423456789012345007",
        "Dota-2-Emoticons",
        "idle",
        "#2ed573",
    ),
    (
        "987654321098765432",
        "423456789012345008",
        "Dota-2-Reddit-Flair-Mosaic",
        "online",
        "#ffa502",
    ),
    (
        "987654321098765432",
        "423456789012345009",
        "Red-kun",
        "dnd",
        "#ff3838",
    ),
    (
        "987654321098765432",
        "423456789012345010",
        "Reply-Dota-2-Reddit",
        "online",
        "#ff9f43",
    ),
    (
        "987654321098765432",
        "423456789012345011",
        "Reply-LoL-Reddit",
        "idle",
        "#0abde3",
    ),
    (
        "987654321098765432",
        "423456789012345012",
        "crosku",
        "online",
        "#006ba6",
    ),
    (
        "987654321098765432",
        "423456789012345013",
        "dev-tracker-reddit",
        "offline",
        "#8e44ad",
    ),
    (
        "987654321098765432",
        "423456789012345014",
        "discord-logo",
        "online",
        "#7289da",
    ),
    (
        "987654321098765432",
        "423456789012345015",
        "discord-twitter-bot",
        "idle",
        "#1da1f2",
    ),
    (
        "987654321098765432",
        "423456789012345016",
        "discord-web-bridge",
        "dnd",
        "#2c2f33",
    ),
    (
        "987654321098765432",
        "423456789012345017",
        "pasteindex",
        "online",
        "#f39c12",
    ),
    (
        "987654321098765432",
        "423456789012345018",
        "pasteview",
        "idle",
        "#e74c3c",
    ),
    (
        "987654321098765432",
        "423456789012345019",
        "shell-kun",
        "online",
        "#1abc9c",
    ),
    (
        "987654321098765432",
        "423456789012345020",
        "tracker-reddit-discord",
        "offline",
        "#9b59b6",
    ),
    (
        "987654321098765432",
        "423456789012345021",
        "twitter-backend",
        "online",
        "#1da1f2",
    ),
];

/// Statuses the mock presence events draw from.
pub const STATUSES: [&str; 4] = ["online", "idle", "dnd", "offline"];

/// Chat lines the mock message events draw from.
pub const MESSAGES: [&str; 5] = [
    "hello",
    "how are you?",
    "this is a test message",
    "D-Zone rocks!",
    "what's up?",
];

/// The channel id mock messages claim to come from.
pub const CHANNEL: &str = "527964146659229701";

/// The server list, keys in upstream order (`id, name, default, passworded`).
pub fn servers() -> Value {
    let map: Map<String, Value> = SERVERS
        .iter()
        .map(|&(key, id, name, default, passworded)| {
            let entry = if default {
                json!({"id": id, "name": name, "default": true, "passworded": passworded})
            } else {
                json!({"id": id, "name": name, "passworded": passworded})
            };
            (key.to_owned(), entry)
        })
        .collect();
    Value::Object(map)
}

/// The members of the server with mapping key `key`; `{}` for unknown keys.
pub fn users(key: &str) -> Value {
    let map: Map<String, Value> = USERS
        .iter()
        .filter(|user| user.0 == key)
        .map(|&(_, uid, username, status, color)| {
            let user =
                json!({"uid": uid, "username": username, "status": status, "roleColor": color});
            (uid.to_owned(), user)
        })
        .collect();
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::pyjson::dumps;

    #[test]
    fn four_servers_with_dworld_default() {
        let s = servers();
        assert_eq!(s.as_object().map(Map::len), Some(4));
        assert_eq!(
            dumps(&s["232769614004748288"]),
            r#"{"id": "dworld", "name": "D-World", "default": true, "passworded": false}"#
        );
        assert_eq!(s["123456789012345678"]["passworded"], json!(true));
    }

    #[test]
    fn user_counts_per_server() {
        let count = |key| users(key).as_object().map(Map::len);
        assert_eq!(count("232769614004748288"), Some(4));
        assert_eq!(count("482241773318701056"), Some(1));
        assert_eq!(count("123456789012345678"), Some(1));
        assert_eq!(count("987654321098765432"), Some(21));
        assert_eq!(count("dworld"), Some(0));
        assert_eq!(
            dumps(&users("232769614004748288")["123456789012345001"]),
            r##"{"uid": "123456789012345001", "username": "vegeta897", "status": "online", "roleColor": "#ff6b6b"}"##
        );
    }
}
