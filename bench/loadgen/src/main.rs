//! d-back-loadgen: many WebSocket clients against one d-back server on loopback.
//!
//! Modes (each prints exactly one JSON object on stdout; progress markers go to
//! stderr, one per line, so a driver can sample the server at those moments):
//!
//! * `join-storm`: N clients each open a WebSocket, read `server-list`, send
//!   `connect`, wait for `server-join`; at most `--in-flight` joins at a time.
//!   Markers: `STARTED`, `JOINED <ok> <failed>`.
//! * `fanout`: join N clients, then `READY <ok> <failed>`; count the `message`
//!   frames the driver has the server broadcast (text `seq:<n>:<sched_ns>:<called_ns>`),
//!   with latency, lag behind schedule and loss per client. Marker
//!   `DRAINED <reason>` once every client got everything or nothing came for the
//!   drain grace.
//! * `idle`: join N clients, `READY <ok> <failed>`, hold them `--hold-seconds`,
//!   then `DONE`.
//!
//! Every phase is bounded in time; connections are only made to loopback addresses.

mod args;
mod client;
mod fanout;
mod join;
mod stats;

use args::Args;
use std::process::ExitCode;

const USAGE: &str = "\
usage: d-back-loadgen MODE --url ws://127.0.0.1:PORT [options]

modes:
  join-storm   --clients N [--in-flight 100]
  fanout       --clients N --rate R --seconds S [--in-flight 100] [--ready-file F]
               [--done-file F] [--drain 2] [--start-timeout 60] [--max-drain 60]
  idle         --clients N --hold-seconds S [--in-flight 100] [--ready-file F]

common options:
  --join-timeout SECONDS    one client's connect+join limit (default 30)
  --phase-timeout SECONDS   limit for joining all clients (default 300)
";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() || argv.iter().any(|a| a == "-h" || a == "--help") {
        eprint!("{USAGE}");
        return if argv.is_empty() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let args = match Args::parse(&argv) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("d-back-loadgen: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // One thread: the load generator must leave the other core to the server.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("d-back-loadgen: cannot start tokio: {error}");
            return ExitCode::FAILURE;
        }
    };
    let local = tokio::task::LocalSet::new();
    let result = local.block_on(&runtime, async move {
        match args.mode.as_str() {
            "join-storm" => join::join_storm(&args).await,
            "fanout" => fanout::fanout(&args).await,
            "idle" => join::idle(&args).await,
            other => Err(format!("unknown mode {other:?}")),
        }
    });
    match result {
        Ok(report) => {
            println!("{report}");
            // Exiting closes every client socket at once.
            std::process::exit(0);
        }
        Err(message) => {
            eprintln!("d-back-loadgen: {message}");
            ExitCode::FAILURE
        }
    }
}
