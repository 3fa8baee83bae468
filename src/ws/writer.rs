//! The writing half of a connection: drains the outbound queue and sends the
//! closing frame the reader asks for (a reply to the client's close, a
//! protocol error, the server stopping, a dead peer).

use super::config::WsConfig;
use super::wire::{write_frames, Frame};
use crate::hub::{Inbox, Next};
use crate::tcp_cork::Cork;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// Everything the writer task needs besides the socket: the connection's
/// queue, which also carries the closing frame the reader asks for.
pub(super) struct Writer {
    pub inbox: Inbox,
    /// Set while the handshake answer waits for the first frame (see
    /// [`crate::tcp_cork`]); released after the first write.
    pub cork: Option<Cork>,
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
        // A client whose socket accepts nothing for this long has stopped reading.
        let stall = config.ping_timeout;
        let closing = config.close_timeout;
        let result: io::Result<()> = loop {
            match self.inbox.next_batch(BATCH, Frame::new).await {
                Some(Next::Frames(frames)) => {
                    let written = within(stall, write_frames(&mut io, &frames)).await;
                    self.uncork();
                    if let Err(e) = written {
                        break Err(e);
                    }
                }
                Some(Next::Close(frame)) => {
                    let sent = within(closing, send(&mut io, Message::Close(Some(frame)))).await;
                    self.uncork();
                    break sent;
                }
                None => break Ok(()),
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

    /// Sends what the cork held back with the first write (see [`crate::tcp_cork`]).
    fn uncork(&mut self) {
        if let Some(cork) = self.cork.take() {
            cork.release();
        }
    }
}

/// Bounds a write; a client that does not read it in time is given up on.
/// Most writes complete at once, and those need no timer.
async fn within(limit: Duration, write: impl Future<Output = io::Result<()>>) -> io::Result<()> {
    let mut write = pin!(write);
    if let Poll::Ready(result) = poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await {
        return result;
    }
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
