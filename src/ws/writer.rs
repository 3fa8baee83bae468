//! The writing half of a connection: drains the outbound queue, keeps the
//! connection alive with pings, and sends the closing frame.

use super::config::WsConfig;
use super::wire::{write_frames, Frame};
use crate::hub::Inbox;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
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

/// Everything the writer task needs besides the socket.
pub(super) struct Writer {
    pub inbox: Inbox,
    /// A closing frame the reader asks for: a reply to the client's close, or
    /// a protocol error, an oversized message, a join timeout.
    pub close_requests: oneshot::Receiver<CloseFrame>,
    pub shutdown: CancellationToken,
    pub activity: std::sync::Arc<Activity>,
}

/// Most frames sent to the socket in one write.
const BATCH: usize = 64;

impl Writer {
    /// Runs until the queue closes, a close is sent, or the socket fails; then
    /// ends the sending side of the TCP connection.
    pub(super) async fn run<W>(mut self, mut io: W, config: &WsConfig)
    where
        W: AsyncWrite + Unpin,
    {
        let period = config.ping_interval;
        let dead_after = config.ping_interval + config.ping_timeout;
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        let mut close_requested = false;
        // A client whose socket accepts nothing for this long has stopped reading.
        let stall = config.ping_timeout;
        let closing = config.close_timeout;
        // One wait for the whole connection: every writer waits on the same
        // server-wide token, and a wait made afresh per frame would lock its
        // list of waiters twice per frame.
        let shutdown = self.shutdown.clone();
        let mut stopping = std::pin::pin!(shutdown.cancelled());
        let result: io::Result<()> = loop {
            tokio::select! {
                biased;
                _ = &mut stopping => {
                    break within(closing, send_close(&mut io, CloseCode::Away, "")).await;
                }
                frame = &mut self.close_requests, if !close_requested => {
                    close_requested = true;
                    if let Ok(frame) = frame {
                        break within(closing, send(&mut io, Message::Close(Some(frame)))).await;
                    }
                }
                message = self.inbox.recv() => match message {
                    Some(message) => {
                        if let Err(e) = within(stall, self.write_batch(&mut io, message)).await {
                            break Err(e);
                        }
                    }
                    None => break Ok(()),
                },
                _ = ping.tick() => {
                    if self.activity.idle_for() > dead_after {
                        let close = send_close(&mut io, CloseCode::Error, "keepalive ping timeout");
                        break within(closing, close).await;
                    }
                    if let Err(e) = within(stall, send(&mut io, Message::Ping(Default::default()))).await {
                        break Err(e);
                    }
                }
            }
        };
        let result = match result {
            Ok(()) => within(closing, io.shutdown()).await,
            Err(error) => Err(error),
        };
        if let Err(error) = result {
            tracing::debug!(%error, "WebSocket write ended");
        }
    }

    async fn write_batch<W>(&mut self, io: &mut W, first: Message) -> io::Result<()>
    where
        W: AsyncWrite + Unpin,
    {
        let mut frames: Vec<Frame> = Frame::new(first).into_iter().collect();
        while frames.len() < BATCH {
            match self.inbox.try_recv() {
                Some(message) => frames.extend(Frame::new(message)),
                None => break,
            }
        }
        write_frames(io, &frames).await
    }
}

/// Bounds a write; a client that does not read it in time is given up on.
async fn within(limit: Duration, write: impl Future<Output = io::Result<()>>) -> io::Result<()> {
    match tokio::time::timeout(limit, write).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "client stopped reading",
        )),
    }
}

async fn send<W>(io: &mut W, message: Message) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    write_frames(io, &Vec::from_iter(Frame::new(message))).await
}

async fn send_close<W>(io: &mut W, code: CloseCode, reason: &'static str) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    send(io, Message::Close(Some(frame))).await
}
