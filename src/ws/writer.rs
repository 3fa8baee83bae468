//! The writing half of a connection: drains the outbound queue, keeps the
//! connection alive with pings, and sends the closing frame.

use super::config::WsConfig;
use crate::hub::Inbox;
use futures_util::{Sink, SinkExt};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_util::sync::CancellationToken;

/// When the peer was last heard from, shared by the reader (which records
/// frames) and the writer (which decides when the peer is dead).
pub(super) struct Activity {
    epoch: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    pub(super) fn touch(&self) {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.last_ms.store(now, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }
}

/// Everything the writer task needs besides the sink.
pub(super) struct Writer {
    pub inbox: Inbox,
    /// A close the reader asks for (protocol error, oversized message, ...).
    pub close_requests: oneshot::Receiver<CloseFrame>,
    pub shutdown: CancellationToken,
    pub activity: std::sync::Arc<Activity>,
}

/// Most frames sent to the socket in one flush.
const BATCH: usize = 64;

impl Writer {
    /// Runs until the queue closes, a close is sent, or the socket fails.
    pub(super) async fn run<S>(mut self, mut sink: S, config: &WsConfig)
    where
        S: Sink<Message, Error = Error> + Unpin,
    {
        let period = config.ping_interval;
        let dead_after = config.ping_interval + config.ping_timeout;
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        let mut close_requested = false;
        // A client whose socket accepts nothing for this long has stopped reading.
        let stall = config.ping_timeout;
        let closing = config.close_timeout;
        let result: Result<(), Error> = loop {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => {
                    break within(closing, send_close(&mut sink, CloseCode::Away, "")).await;
                }
                frame = &mut self.close_requests, if !close_requested => {
                    close_requested = true;
                    if let Ok(frame) = frame {
                        break within(closing, sink.send(Message::Close(Some(frame)))).await;
                    }
                }
                message = self.inbox.recv() => match message {
                    Some(message) => {
                        if let Err(e) = within(stall, self.write_batch(&mut sink, message)).await {
                            break Err(e);
                        }
                    }
                    None => break within(closing, sink.close()).await,
                },
                _ = ping.tick() => {
                    if self.activity.idle_for() > dead_after {
                        let close = send_close(&mut sink, CloseCode::Error, "keepalive ping timeout");
                        break within(closing, close).await;
                    }
                    if let Err(e) = within(stall, sink.send(Message::Ping(Default::default()))).await {
                        break Err(e);
                    }
                }
            }
        };
        if let Err(error) = result {
            tracing::debug!(%error, "WebSocket write ended");
        }
    }

    async fn write_batch<S>(&mut self, sink: &mut S, first: Message) -> Result<(), Error>
    where
        S: Sink<Message, Error = Error> + Unpin,
    {
        sink.feed(first).await?;
        for _ in 1..BATCH {
            match self.inbox.try_recv() {
                Some(message) => sink.feed(message).await?,
                None => break,
            }
        }
        sink.flush().await
    }
}

/// Bounds a write; a client that does not read it in time is given up on.
async fn within(
    limit: Duration,
    write: impl Future<Output = Result<(), Error>>,
) -> Result<(), Error> {
    match tokio::time::timeout(limit, write).await {
        Ok(result) => result,
        Err(_) => Err(Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "client stopped reading",
        ))),
    }
}

async fn send_close<S>(sink: &mut S, code: CloseCode, reason: &'static str) -> Result<(), Error>
where
    S: Sink<Message, Error = Error> + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    sink.send(Message::Close(Some(frame))).await
}
