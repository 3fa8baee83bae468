//! Command-line options: `MODE --name value ...`, nothing fancier.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

pub struct Args {
    pub mode: String,
    /// The URL as given (sent in the handshake).
    pub url: String,
    /// Where it points; always a loopback address.
    pub addr: SocketAddr,
    pub clients: usize,
    pub in_flight: usize,
    pub join_timeout: Duration,
    pub phase_timeout: Duration,
    pub ready_file: Option<PathBuf>,
    // fanout
    pub rate: f64,
    pub seconds: f64,
    pub done_file: Option<PathBuf>,
    pub drain: Duration,
    pub start_timeout: Duration,
    pub max_drain: Duration,
    // idle
    pub hold: Duration,
}

const KNOWN: &[&str] = &[
    "url",
    "clients",
    "in-flight",
    "join-timeout",
    "phase-timeout",
    "ready-file",
    "rate",
    "seconds",
    "done-file",
    "drain",
    "start-timeout",
    "max-drain",
    "hold-seconds",
];

impl Args {
    pub fn parse(argv: &[String]) -> Result<Self, String> {
        let mode = argv[0].clone();
        let mut values: HashMap<&str, &str> = HashMap::new();
        let mut rest = argv[1..].iter();
        while let Some(flag) = rest.next() {
            let name = flag
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {flag:?}"))?;
            let (name, value) = match name.split_once('=') {
                Some((name, value)) => (name, value),
                None => (
                    name,
                    rest.next()
                        .ok_or_else(|| format!("--{name} needs a value"))?
                        .as_str(),
                ),
            };
            if !KNOWN.contains(&name) {
                return Err(format!("unknown option --{name}"));
            }
            values.insert(name, value);
        }
        let url = values.get("url").ok_or("--url is required")?.to_string();
        let addr = loopback_addr(&url)?;
        let clients: usize = number(&values, "clients", 1.0)? as usize;
        if clients == 0 {
            return Err("--clients must be at least 1".into());
        }
        let in_flight = number(&values, "in-flight", 100.0)? as usize;
        let rate = number(&values, "rate", 50.0)?;
        let seconds = number(&values, "seconds", 3.0)?;
        if rate <= 0.0 || seconds <= 0.0 {
            return Err("--rate and --seconds must be positive".into());
        }
        Ok(Self {
            mode,
            url,
            addr,
            clients,
            in_flight: in_flight.max(1),
            join_timeout: secs(&values, "join-timeout", 30.0)?,
            phase_timeout: secs(&values, "phase-timeout", 300.0)?,
            ready_file: values.get("ready-file").map(PathBuf::from),
            rate,
            seconds,
            done_file: values.get("done-file").map(PathBuf::from),
            drain: secs(&values, "drain", 2.0)?,
            start_timeout: secs(&values, "start-timeout", 60.0)?,
            max_drain: secs(&values, "max-drain", 60.0)?,
            hold: secs(&values, "hold-seconds", 5.0)?,
        })
    }
}

fn number(values: &HashMap<&str, &str>, name: &str, default: f64) -> Result<f64, String> {
    match values.get(name) {
        None => Ok(default),
        Some(text) => text
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| format!("--{name}: not a non-negative number: {text:?}")),
    }
}

fn secs(values: &HashMap<&str, &str>, name: &str, default: f64) -> Result<Duration, String> {
    // Capped at a day: every phase must end by itself.
    Ok(Duration::from_secs_f64(
        number(values, name, default)?.min(86_400.0),
    ))
}

/// `ws://HOST:PORT/...` → the socket address; refuses anything but loopback.
fn loopback_addr(url: &str) -> Result<SocketAddr, String> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| format!("--url must start with ws://, got {url:?}"))?;
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("--url {url:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("--url {url:?}: no address"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "--url {url:?}: only loopback addresses are allowed"
        ));
    }
    Ok(addr)
}
