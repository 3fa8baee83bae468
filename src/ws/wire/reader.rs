//! Reads client messages from the socket. While a connection is idle it holds
//! no read buffer: one is lent to each read attempt and released again when
//! nothing came or once every byte in it has been decoded.

use super::decode::{Decoder, ReadError};
use bytes::{Bytes, BytesMut};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::net::tcp::OwnedReadHalf;
use tokio_tungstenite::tungstenite::Message;

/// Bytes asked of the socket per read; client frames are tiny.
const READ_CHUNK: usize = 2048;

/// Why reading stopped.
#[derive(Debug)]
pub enum ReadFailure {
    /// The client broke the protocol or a limit; it is owed a closing frame.
    Bad(ReadError),
    /// The socket failed (reset, timeout): nothing more can be sent either.
    Io(io::Error),
}

pub struct FrameReader {
    io: OwnedReadHalf,
    buf: BytesMut,
    decoder: Decoder,
}

impl FrameReader {
    /// `already_read` holds bytes that arrived with the HTTP upgrade request.
    pub fn new(io: OwnedReadHalf, already_read: Bytes, decoder: Decoder) -> Self {
        Self {
            io,
            buf: BytesMut::from(&already_read[..]),
            decoder,
        }
    }

    /// Reads what the socket has into the buffer. A read through `poll_read`
    /// (rather than waiting for readiness, then trying) lets tokio see a short
    /// read as the socket drained, which saves a failing `recv` per message.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        self.buf.reserve(READ_CHUNK);
        let read = tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf);
        if read.is_pending() && self.buf.is_empty() {
            self.buf = BytesMut::new();
        }
        read
    }

    /// The next message; `None` once the client has closed the TCP connection.
    pub async fn next(&mut self) -> Option<Result<Message, ReadFailure>> {
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(message)) => return Some(Ok(message)),
                Ok(None) => {}
                Err(error) => return Some(Err(ReadFailure::Bad(error))),
            }
            match std::future::poll_fn(|cx| self.poll_fill(cx)).await {
                Ok(0) => return None,
                Ok(_) => {}
                Err(error) => return Some(Err(ReadFailure::Io(error))),
            }
        }
    }
}
