//! d-back-ceiling: the d-back core serving the benchmark's data from a Rust
//! provider, broadcasting from a tokio task — no Python anywhere, so it is the
//! best the core can do on this machine.
//!
//! Usage: `d-back-ceiling [--host 127.0.0.1] [--port 0]`
//!
//! Control protocol (the same for every server of the benchmark): commands on
//! stdin, one JSON reply per line on stdout.
//! * at start-up: `{"event": "listening", "port": P, "pid": ..., "impl": "ceiling"}`
//! * `broadcast RATE SECONDS MAX_SECONDS`: broadcast RATE messages a second for
//!   SECONDS (stopping early after MAX_SECONDS), each message text
//!   `seq:<n>:<scheduled unix ns>:<called unix ns>`; reply with the call timings.
//! * `stats`: `{"event": "stats", "connections": n}`
//! * `quit` (or end of input): stop the server and exit.

use d_back::http::connection::HttpLimits;
use d_back::http::{AccessPolicy, StaticRoot};
use d_back::hub::Hub;
use d_back::protocol::pyjson;
use d_back::provider::{Provider, ProviderFuture, ServerData, StaticOverride, UserList};
use d_back::server::{Server, ServerParts};
use d_back::thread_priority::NiceSteps;
use d_back::worker_threads::WorkerThreads;
use d_back::ws::WsConfig;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The benchmark's data, the same as `servers/common.py`: one default server,
/// 50 users, a client id.
const SERVER_KEY: &str = "100000000000000001";
const CHANNEL: &str = "300000000000000001";
const CLIENT_ID: &str = "506432803173433344";
const USERS: usize = 50;

fn uid(i: usize) -> String {
    format!("2000000000000{:05}", i + 1)
}

struct BenchProvider {
    servers: Value,
    users: Value,
}

impl BenchProvider {
    fn new() -> Self {
        let mut servers = serde_json::Map::new();
        servers.insert(
            SERVER_KEY.into(),
            json!({"id": "bench", "name": "Bench Server", "default": true, "passworded": false}),
        );
        let mut users = serde_json::Map::new();
        for i in 0..USERS {
            users.insert(
                uid(i),
                json!({
                    "uid": uid(i),
                    "username": format!("bench user {}", i + 1),
                    "status": "online",
                    "roleColor": "#3498db",
                }),
            );
        }
        Self {
            servers: Value::Object(servers),
            users: Value::Object(users),
        }
    }
}

// Like a cog's callbacks, every call builds the data afresh (and the users are
// encoded, as the bridge's `json.dumps` encodes a callback's result).
impl Provider for BenchProvider {
    fn server_data(&self) -> ProviderFuture<'_, ServerData> {
        Box::pin(async move {
            Ok(ServerData {
                servers: Arc::new(self.servers.clone()),
                from_mock: false,
            })
        })
    }

    fn user_data<'a>(&'a self, _key: &'a str) -> ProviderFuture<'a, UserList> {
        Box::pin(async move { Ok(UserList::from_value(&self.users.clone())) })
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
        Box::pin(async { Ok(Some(Value::String(CLIENT_ID.into()))) })
    }

    fn static_override<'a>(&'a self, _path: &'a str) -> ProviderFuture<'a, Option<StaticOverride>> {
        Box::pin(async { Ok(None) })
    }

    fn mock_events(&self) -> bool {
        false
    }
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Nearest-rank percentiles of `values` (µs) as `{p50, p99, max, mean, count}`.
fn summary(values: &mut [f64]) -> Value {
    if values.is_empty() {
        return json!({"count": 0, "p50": null, "p99": null, "max": null, "mean": null});
    }
    values.sort_by(f64::total_cmp);
    let rank = |q: f64| {
        let i = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
        round3(values[i - 1])
    };
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    json!({
        "count": values.len(),
        "p50": rank(0.50),
        "p99": rank(0.99),
        "max": round3(values[values.len() - 1]),
        "mean": round3(mean),
    })
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Broadcasts at a fixed schedule through `Hub::broadcast`; each call encodes
/// the frame once (as `broadcast_message` does) and fans it out.
async fn broadcasts(hub: Arc<Hub>, rate: f64, seconds: f64, max_seconds: f64) -> Value {
    let planned = ((rate * seconds).round() as u64).max(1);
    let interval = Duration::from_secs_f64(1.0 / rate);
    let lead = Duration::from_millis(50);
    let t0 = Instant::now() + lead;
    let t0_unix = unix_ns() + lead.as_nanos() as u64;
    let deadline = t0 + Duration::from_secs_f64(max_seconds);
    let mut calls_us = Vec::with_capacity(planned as usize);
    let mut start_lag_ms = Vec::with_capacity(planned as usize);
    let mut recipients = 0u64;
    let mut issued = 0u64;
    let mut did_not_finish = false;
    for seq in 0..planned {
        let offset = interval * seq as u32;
        if Instant::now() > deadline {
            did_not_finish = true;
            break;
        }
        tokio::time::sleep_until((t0 + offset).into()).await;
        let scheduled = t0_unix + offset.as_nanos() as u64;
        let called = unix_ns();
        let frame = json!({
            "type": "message",
            "server": SERVER_KEY,
            "data": {
                "uid": uid(0),
                "message": format!("seq:{seq}:{scheduled}:{called}"),
                "channel": CHANNEL,
            },
        });
        let started = Instant::now();
        let text = pyjson::dumps(&frame);
        recipients += hub.broadcast(SERVER_KEY, text) as u64;
        calls_us.push(started.elapsed().as_nanos() as f64 / 1000.0);
        start_lag_ms.push(called.saturating_sub(scheduled) as f64 / 1e6);
        issued += 1;
    }
    json!({
        "event": "broadcast",
        "planned": planned,
        "issued": issued,
        "did_not_finish": did_not_finish,
        "recipients": recipients,
        "elapsed_s": round3(t0.elapsed().as_secs_f64()),
        "call_us": summary(&mut calls_us),
        "call_cpu_us": null,
        "start_lag_ms": summary(&mut start_lag_ms),
    })
}

fn reply(value: &Value) {
    println!("{value}");
}

fn parse_args() -> Result<(String, u16), String> {
    let mut host = "127.0.0.1".to_owned();
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--host" => host = value,
            "--port" => port = value.parse().map_err(|_| format!("bad port {value:?}"))?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok((host, port))
}

async fn run(host: String, port: u16) -> Result<(), String> {
    let hub = Arc::new(Hub::new());
    let parts = ServerParts {
        hub: Arc::clone(&hub),
        provider: Arc::new(BenchProvider::new()),
        // WebSocket only in this benchmark; no directory is served.
        static_root: Arc::new(StaticRoot::new("/nonexistent/d-back-bench")),
        ws: WsConfig::default(),
        http: HttpLimits::default(),
        access: AccessPolicy::default(),
    };
    let server = Server::bind(&host, port, parts)
        .await
        .map_err(|e| format!("cannot bind {host}:{port}: {e}"))?;
    let bound = server.local_addrs().first().map_or(port, |a| a.port());
    reply(
        &json!({"event": "listening", "port": bound, "pid": std::process::id(), "impl": "ceiling"}),
    );

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["broadcast", rate, seconds, max_seconds] => {
                let (Ok(rate), Ok(seconds), Ok(max_seconds)) = (
                    rate.parse::<f64>(),
                    seconds.parse::<f64>(),
                    max_seconds.parse::<f64>(),
                ) else {
                    reply(&json!({"event": "error", "message": "bad numbers"}));
                    continue;
                };
                if !(rate > 0.0 && seconds > 0.0 && max_seconds > 0.0) {
                    reply(&json!({"event": "error", "message": "numbers must be positive"}));
                    continue;
                }
                // From a task of its own, as a bot's event handler would.
                let task = tokio::spawn(broadcasts(Arc::clone(&hub), rate, seconds, max_seconds));
                match task.await {
                    Ok(result) => reply(&result),
                    Err(e) => reply(&json!({"event": "error", "message": e.to_string()})),
                }
            }
            ["stats"] => reply(&json!({
                "event": "stats",
                "connections": hub.len(),
                "joined": hub.room_len(SERVER_KEY),
                "dropped": hub.dropped(),
            })),
            ["quit"] => break,
            [] => {}
            _ => reply(&json!({"event": "error", "message": format!("unknown command {line:?}")})),
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(15), server.stop()).await;
    reply(&json!({"event": "bye"}));
    Ok(())
}

fn main() -> std::process::ExitCode {
    let (host, port) = match parse_args() {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("d-back-ceiling: {message}");
            return std::process::ExitCode::from(2);
        }
    };
    // The same runtime shape as the Python extension's: the workers
    // `D_BACK_WORKER_THREADS` asks for (one fewer than the cores by default),
    // below the starting thread's priority as `D_BACK_THREAD_NICE` says.
    let shape = NiceSteps::from_env().and_then(|steps| Ok((steps, WorkerThreads::from_env()?)));
    let (steps, workers) = match shape {
        Ok(shape) => shape,
        Err(message) => {
            eprintln!("d-back-ceiling: {message}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().thread_name("d-back");
    steps.below_this_thread().for_runtime(&mut builder);
    workers.for_runtime(&mut builder);
    let runtime = match builder.build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("d-back-ceiling: cannot start tokio: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(host, port)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("d-back-ceiling: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
