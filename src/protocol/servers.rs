//! The server list: what clients may see of it, which entry a `connect` joins,
//! and whether the client may enter a passworded one.

use super::client::{ConnectRequest, DEFAULT_SERVER};
use super::errors;
use super::pyjson::py_truthy;
use serde_json::{Map, Value};

/// Key of the mock OAuth server, which accepts any well-formed Discord user.
pub const MOCK_OAUTH_KEY: &str = "123456789012345678";

/// The list as clients see it: entries lose their `password` field (upstream
/// leaked it; the original d-zone server never sent it). Anything that is not a
/// mapping is passed on verbatim.
pub fn public_server_list(servers: &Value) -> Value {
    let Value::Object(map) = servers else {
        return servers.clone();
    };
    let cleaned = map
        .iter()
        .map(|(key, entry)| {
            let entry = match entry {
                Value::Object(fields) if fields.contains_key("password") => {
                    let mut fields = fields.clone();
                    fields.shift_remove("password");
                    Value::Object(fields)
                }
                other => other.clone(),
            };
            (key.clone(), entry)
        })
        .collect();
    Value::Object(cleaned)
}

/// The entry a `connect` resolved to.
#[derive(Debug)]
pub struct Matched<'a> {
    /// The mapping key (the Discord guild id); what membership and broadcasts use.
    pub key: &'a str,
    pub entry: &'a Map<String, Value>,
    /// The entry's display name.
    pub name: &'a Value,
}

/// Finds the first entry whose string `id` equals `requested`, or the first
/// entry marked `default` when `requested` is `"default"`. The mapping key is not
/// matched. Malformed data (not a mapping, an entry reached that is not a
/// mapping, or a matched entry without `name`) matches nothing.
pub fn find_server<'a>(servers: &'a Value, requested: &str) -> Option<Matched<'a>> {
    let Value::Object(map) = servers else {
        return None;
    };
    for (key, entry) in map {
        let Value::Object(entry) = entry else {
            return None;
        };
        let id_matches = entry.get("id").and_then(Value::as_str) == Some(requested);
        let default_matches =
            requested == DEFAULT_SERVER && entry.get("default").is_some_and(py_truthy);
        if id_matches || default_matches {
            let name = entry.get("name")?;
            return Some(Matched { key, entry, name });
        }
    }
    None
}

/// Whether a client may enter the matched server.
#[derive(Debug, PartialEq)]
pub enum Access<'a> {
    Granted,
    /// Answer with this error; membership stays as it was.
    Denied(&'static str),
    /// Ask the provider's Discord validator (granted if none is registered).
    Validate {
        token: &'a Value,
        user: &'a Value,
    },
}

/// Applies the passworded-server rules. `mock_servers` tells whether the server
/// list came from the mock provider: only then does the mock OAuth server skip
/// validation.
pub fn check_access<'a>(
    matched: &Matched<'_>,
    request: &'a ConnectRequest,
    mock_servers: bool,
) -> Access<'a> {
    if !matched.entry.get("passworded").is_some_and(py_truthy) {
        return Access::Granted;
    }
    if let (Some(token), Some(user)) = (&request.discord_token, &request.discord_user) {
        let well_formed = ["id", "username"]
            .iter()
            .all(|field| user.get(field).is_some_and(py_truthy));
        if !well_formed {
            return Access::Denied(errors::AUTH_FAILED);
        }
        if mock_servers && matched.key == MOCK_OAUTH_KEY {
            return Access::Granted;
        }
        return Access::Validate { token, user };
    }
    match (&request.password, matched.entry.get("password")) {
        (Some(sent), Some(expected)) if py_eq(sent, expected) => Access::Granted,
        _ => Access::Denied(errors::AUTH_REQUIRED),
    }
}

/// Python `==` for decoded JSON: numbers compare by value (`1 == 1.0`).
fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(fx), Some(fy))
                if x.to_string().contains(['.', 'e', 'E'])
                    || y.to_string().contains(['.', 'e', 'E']) =>
            {
                fx == fy
            }
            _ => x == y,
        },
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::client::{parse_text, ClientFrame};
    use serde_json::json;

    fn request(text: &str) -> ConnectRequest {
        match parse_text(text) {
            ClientFrame::Connect(r) => *r,
            other => panic!("{other:?}"),
        }
    }

    fn servers() -> Value {
        json!({
            "1": {"id": "a", "name": "A"},
            "2": {"id": "b", "name": "B", "default": true},
            "3": {"id": "a", "name": "A2"},
            "4": {"id": "p", "name": "P", "passworded": true, "password": "pw"},
            "5": {"id": 7, "name": "Numeric"},
            "6": {"name": "No id"},
        })
    }

    #[test]
    fn first_match_by_id_or_default() {
        let s = servers();
        assert_eq!(find_server(&s, "a").map(|m| m.key), Some("1"));
        assert_eq!(find_server(&s, "default").map(|m| m.key), Some("2"));
        assert_eq!(find_server(&s, "b").map(|m| m.key), Some("2"));
        assert!(find_server(&s, "1").is_none(), "keys are not matched");
        assert!(find_server(&s, "7").is_none(), "non-string ids never match");
        assert!(find_server(&s, "MISSING").is_none());
    }

    #[test]
    fn malformed_data_matches_nothing() {
        assert!(find_server(&json!([1]), "a").is_none());
        assert!(find_server(&json!({"1": 5, "2": {"id": "a", "name": "A"}}), "a").is_none());
        assert!(find_server(&json!({"1": {"id": "a"}}), "a").is_none());
    }

    #[test]
    fn server_list_hides_passwords() {
        let public = public_server_list(&servers());
        assert_eq!(
            public["4"],
            json!({"id": "p", "name": "P", "passworded": true})
        );
        assert_eq!(public["1"], json!({"id": "a", "name": "A"}));
    }

    #[test]
    fn passworded_rules() {
        let s = servers();
        let p = find_server(&s, "p").expect("p");
        let none = request(r#"{"type":"connect","data":{"server":"p"}}"#);
        assert_eq!(
            check_access(&p, &none, false),
            Access::Denied(errors::AUTH_REQUIRED)
        );
        let pw = request(r#"{"type":"connect","data":{"server":"p","password":"pw"}}"#);
        assert_eq!(check_access(&p, &pw, false), Access::Granted);
        let wrong = request(r#"{"type":"connect","data":{"server":"p","password":"no"}}"#);
        assert_eq!(
            check_access(&p, &wrong, false),
            Access::Denied(errors::AUTH_REQUIRED)
        );
        let bad_user = request(
            r#"{"type":"connect","data":{"server":"p","discordToken":"t","discordUser":{"id":"1"}}}"#,
        );
        assert_eq!(
            check_access(&p, &bad_user, false),
            Access::Denied(errors::AUTH_FAILED)
        );
        let scalar_user = request(
            r#"{"type":"connect","data":{"server":"p","discordToken":"t","discordUser":"me"}}"#,
        );
        assert_eq!(
            check_access(&p, &scalar_user, false),
            Access::Denied(errors::AUTH_FAILED)
        );
        let good = request(
            r#"{"type":"connect","data":{"server":"p","discordToken":"t","discordUser":{"id":"1","username":"u"}}}"#,
        );
        assert!(matches!(
            check_access(&p, &good, false),
            Access::Validate { .. }
        ));
        let open = find_server(&s, "a").expect("a");
        assert_eq!(check_access(&open, &scalar_user, false), Access::Granted);
    }

    #[test]
    fn mock_oauth_bypass_only_for_mock_data() {
        let s = json!({MOCK_OAUTH_KEY: {"id": "oauth", "name": "O", "passworded": true}});
        let m = find_server(&s, "oauth").expect("oauth");
        let good = request(
            r#"{"type":"connect","data":{"server":"oauth","discordToken":"t","discordUser":{"id":"1","username":"u"}}}"#,
        );
        assert_eq!(check_access(&m, &good, true), Access::Granted);
        assert!(matches!(
            check_access(&m, &good, false),
            Access::Validate { .. }
        ));
    }

    #[test]
    fn password_equality_is_by_value() {
        assert!(py_eq(
            &json!(1),
            &serde_json::from_str("1.0").expect("json")
        ));
        assert!(!py_eq(&json!("1"), &json!(1)));
    }
}
