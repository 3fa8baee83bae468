//! How long the bot's callbacks take and how often they fail, and the one
//! place the core awaits a provider call within the callback timeout.

use super::histogram::{Histogram, HistogramSnapshot};
use crate::provider::{Callback, Provider, ProviderError, ProviderFuture};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Why a provider call gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallFailure {
    /// The provider reported an error (the callback raised, returned the wrong shape, ...).
    Error(ProviderError),
    /// No answer within the callback timeout.
    Timeout(Duration),
}

impl fmt::Display for CallFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Error(error) => error.fmt(f),
            Self::Timeout(limit) => write!(f, "timed out after {limit:?}"),
        }
    }
}

#[derive(Debug, Default)]
struct Stat {
    duration: Histogram,
    errors: AtomicU64,
    timeouts: AtomicU64,
}

/// Latency and failures per [`Callback`].
#[derive(Debug, Default)]
pub struct CallbackStats {
    stats: [Stat; Callback::ALL.len()],
}

/// One callback's numbers as exposed.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackSnapshot {
    pub callback: Callback,
    pub duration: HistogramSnapshot,
    pub errors: u64,
    pub timeouts: u64,
}

impl CallbackStats {
    fn stat(&self, callback: Callback) -> &Stat {
        &self.stats[callback as usize]
    }

    /// Records one finished call (failed ones included: their time counts too).
    pub fn observe<T>(
        &self,
        callback: Callback,
        elapsed: Duration,
        outcome: &Result<T, CallFailure>,
    ) {
        let stat = self.stat(callback);
        stat.duration.observe(elapsed);
        match outcome {
            Ok(_) => {}
            Err(CallFailure::Error(_)) => {
                stat.errors.fetch_add(1, Ordering::Relaxed);
            }
            Err(CallFailure::Timeout(_)) => {
                stat.timeouts.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Every callback's numbers, in [`Callback::ALL`] order.
    pub fn snapshot(&self) -> Vec<CallbackSnapshot> {
        Callback::ALL
            .iter()
            .map(|&callback| {
                let stat = self.stat(callback);
                CallbackSnapshot {
                    callback,
                    duration: stat.duration.snapshot(),
                    errors: stat.errors.load(Ordering::Relaxed),
                    timeouts: stat.timeouts.load(Ordering::Relaxed),
                }
            })
            .collect()
    }
}

/// Awaits one provider call for at most `limit`. The call is recorded in
/// `stats` only when the provider hands it to one of the bot's callbacks, so
/// built-in (mock) data never shows up as callback latency. A call abandoned
/// before it ends (the connection closed) is not recorded.
pub async fn timed_call<T>(
    stats: &CallbackStats,
    provider: &dyn Provider,
    callback: Callback,
    limit: Duration,
    future: ProviderFuture<'_, T>,
) -> Result<T, CallFailure> {
    let started = provider.served_by_callback(callback).then(Instant::now);
    let outcome = match tokio::time::timeout(limit, future).await {
        Ok(result) => result.map_err(CallFailure::Error),
        Err(_) => Err(CallFailure::Timeout(limit)),
    };
    if let Some(started) = started {
        stats.observe(callback, started.elapsed(), &outcome);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{MockProvider, ServerData, StaticOverride, UserList};
    use serde_json::Value;

    /// Answers `user_data` through a "callback": slowly, or with an error.
    struct Bot;

    impl Provider for Bot {
        fn server_data(&self) -> ProviderFuture<'_, ServerData> {
            Box::pin(async { Err(ProviderError("raised".to_owned())) })
        }
        fn user_data<'a>(&'a self, _key: &'a str) -> ProviderFuture<'a, UserList> {
            Box::pin(std::future::pending())
        }
        fn validate_discord_user<'a>(
            &'a self,
            _token: &'a Value,
            _user: &'a Value,
            _key: &'a str,
        ) -> ProviderFuture<'a, Option<bool>> {
            Box::pin(async { Ok(Some(true)) })
        }
        fn client_id<'a>(&'a self, _key: &'a str) -> ProviderFuture<'a, Option<Value>> {
            Box::pin(async { Ok(None) })
        }
        fn static_override<'a>(
            &'a self,
            _path: &'a str,
        ) -> ProviderFuture<'a, Option<StaticOverride>> {
            Box::pin(async { Ok(None) })
        }
        fn mock_events(&self) -> bool {
            false
        }
        fn served_by_callback(&self, _callback: Callback) -> bool {
            true
        }
    }

    fn of(stats: &CallbackStats, callback: Callback) -> CallbackSnapshot {
        stats.snapshot()[Callback::ALL
            .iter()
            .position(|&c| c == callback)
            .expect("listed")]
        .clone()
    }

    #[tokio::test]
    async fn callback_calls_are_timed_and_failures_sorted_by_reason() {
        let stats = CallbackStats::default();
        let limit = Duration::from_millis(20);
        let bot = Bot;
        let ok = timed_call(
            &stats,
            &bot,
            Callback::ValidateDiscordUser,
            limit,
            bot.validate_discord_user(&Value::Null, &Value::Null, "k"),
        );
        assert_eq!(ok.await, Ok(Some(true)));
        let error = timed_call(&stats, &bot, Callback::ServerData, limit, bot.server_data());
        assert!(matches!(error.await, Err(CallFailure::Error(_))));
        let slow = timed_call(&stats, &bot, Callback::UserData, limit, bot.user_data("k"));
        let failure = slow.await.expect_err("times out");
        assert_eq!(failure.to_string(), "timed out after 20ms");

        let validate = of(&stats, Callback::ValidateDiscordUser);
        assert_eq!((validate.duration.count(), validate.errors), (1, 0));
        let servers = of(&stats, Callback::ServerData);
        assert_eq!((servers.errors, servers.timeouts), (1, 0));
        let users = of(&stats, Callback::UserData);
        assert_eq!((users.duration.count(), users.timeouts), (1, 1));
        assert!(users.duration.sum_seconds >= 0.02);
        assert_eq!(of(&stats, Callback::ClientId).duration.count(), 0);
    }

    #[tokio::test]
    async fn built_in_data_is_not_recorded() {
        let stats = CallbackStats::default();
        let mock = MockProvider;
        let limit = Duration::from_secs(1);
        let data = timed_call(
            &stats,
            &mock,
            Callback::ServerData,
            limit,
            mock.server_data(),
        );
        assert!(data.await.is_ok());
        assert!(stats
            .snapshot()
            .iter()
            .all(|s| s.duration.count() == 0 && s.errors == 0 && s.timeouts == 0));
    }
}
