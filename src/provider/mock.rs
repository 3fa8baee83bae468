//! The built-in data source, used when no callbacks are registered.

use super::mock_data::{self, CHANNEL, MESSAGES, STATUSES};
use super::{Provider, ProviderFuture, ServerData, StaticOverride, UserList};
use serde_json::Value;

/// Serves the demo servers and users, and turns on the mock live events.
#[derive(Debug, Default, Clone, Copy)]
pub struct MockProvider;

impl MockProvider {
    /// The mock server list.
    pub fn servers(&self) -> Value {
        mock_data::servers()
    }

    /// The mock users of one server (by mapping key).
    pub fn users(&self, key: &str) -> Value {
        mock_data::users(key)
    }
}

impl Provider for MockProvider {
    fn server_data(&self) -> ProviderFuture<'_, ServerData> {
        Box::pin(async move {
            Ok(ServerData {
                servers: self.servers().into(),
                from_mock: true,
            })
        })
    }

    fn user_data<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, UserList> {
        Box::pin(async move { Ok(UserList::from_value(&self.users(key))) })
    }

    fn validate_discord_user<'a>(
        &'a self,
        _token: &'a Value,
        _user: &'a Value,
        _key: &'a str,
    ) -> ProviderFuture<'a, Option<bool>> {
        Box::pin(async { Ok(None) })
    }

    fn client_id<'a>(&'a self, _key: &'a str) -> ProviderFuture<'a, Option<Value>> {
        Box::pin(async { Ok(None) })
    }

    fn static_override<'a>(&'a self, _path: &'a str) -> ProviderFuture<'a, Option<StaticOverride>> {
        Box::pin(async { Ok(None) })
    }

    fn mock_events(&self) -> bool {
        true
    }
}

/// Random presence and chat events about the members of one joined server.
#[derive(Debug, Clone)]
pub struct MockEvents {
    server: String,
    uids: Vec<String>,
}

impl MockEvents {
    /// Events for mock server `key`, about its mock members.
    pub fn for_mock_server(key: &str) -> Option<Self> {
        Self::new(key, &mock_data::users(key))
    }

    /// Events for server `key`, about the members listed in its `users` mapping.
    /// `None` when there is nobody to talk about.
    pub fn new(key: &str, users: &Value) -> Option<Self> {
        let uids: Vec<String> = users.as_object()?.keys().cloned().collect();
        (!uids.is_empty()).then(|| Self {
            server: key.to_owned(),
            uids,
        })
    }

    /// A presence frame for a random member with a random status.
    pub fn presence(&self) -> String {
        crate::protocol::frames::presence(&self.server, self.random_uid(), pick(&STATUSES))
    }

    /// A chat frame from a random member with a random line.
    pub fn message(&self) -> String {
        crate::protocol::frames::message(&self.server, self.random_uid(), pick(&MESSAGES), CHANNEL)
    }

    fn random_uid(&self) -> &str {
        &self.uids[fastrand::usize(..self.uids.len())]
    }
}

fn pick<'a>(choices: &[&'a str]) -> &'a str {
    choices[fastrand::usize(..choices.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_name_members_of_the_joined_server() {
        let users = mock_data::users("232769614004748288");
        let events = MockEvents::new("232769614004748288", &users).expect("members");
        for _ in 0..50 {
            let frame: Value = serde_json::from_str(&events.presence()).expect("json");
            assert_eq!(frame["server"], "232769614004748288");
            let uid = frame["data"]["uid"].as_str().expect("uid");
            assert!(users.get(uid).is_some());
            assert!(STATUSES.contains(&frame["data"]["status"].as_str().expect("status")));
            let frame: Value = serde_json::from_str(&events.message()).expect("json");
            assert_eq!(frame["data"]["channel"], CHANNEL);
            assert!(MESSAGES.contains(&frame["data"]["message"].as_str().expect("message")));
        }
    }

    #[test]
    fn no_events_without_members() {
        assert!(MockEvents::new("x", &Value::Object(Default::default())).is_none());
        assert!(MockEvents::new("x", &Value::Null).is_none());
    }
}
