//! Reads client messages from the socket. While a connection is idle it holds
//! no read buffer: the buffer is allocated when the socket becomes readable and
//! released once every byte in it has been decoded.

use super::decode::{Decoder, ReadError};
use bytes::{Bytes, BytesMut};
use std::io;
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

    /// The next message; `None` once the client has closed the TCP connection.
    pub async fn next(&mut self) -> Option<Result<Message, ReadFailure>> {
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(message)) => return Some(Ok(message)),
                Ok(None) => {}
                Err(error) => return Some(Err(ReadFailure::Bad(error))),
            }
            if self.buf.is_empty() {
                self.buf = BytesMut::new();
            }
            if let Err(error) = self.io.readable().await {
                return Some(Err(ReadFailure::Io(error)));
            }
            self.buf.reserve(READ_CHUNK);
            match self.io.try_read_buf(&mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Some(Err(ReadFailure::Io(error))),
            }
        }
    }
}
