//! Server frames (unmasked, never fragmented), written straight from the
//! queued messages' shared buffers with vectored writes: no per-connection
//! write buffer stays allocated between writes.

use bytes::{BufMut, Bytes};
use std::io::{self, IoSlice};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// The longest header a server frame needs: 2 bytes plus a 64-bit length.
const MAX_HEADER: usize = 10;

/// One frame ready to go out: its header and its payload.
pub struct Frame {
    header: [u8; MAX_HEADER],
    header_len: u8,
    payload: Bytes,
}

impl Frame {
    /// The frame for a message; `None` for the raw-frame variant, which the
    /// server never queues.
    pub fn new(message: Message) -> Option<Self> {
        let (opcode, payload) = match message {
            Message::Text(text) => (0x1, Bytes::from(text)),
            Message::Binary(data) => (0x2, data),
            Message::Ping(data) => (0x9, data),
            Message::Pong(data) => (0xA, data),
            Message::Close(None) => (0x8, Bytes::new()),
            Message::Close(Some(close)) => {
                let mut payload = Vec::with_capacity(2 + close.reason.len());
                payload.put_u16(close.code.into());
                payload.extend_from_slice(close.reason.as_bytes());
                (0x8, Bytes::from(payload))
            }
            Message::Frame(_) => return None,
        };
        let mut header = [0; MAX_HEADER];
        header[0] = 0x80 | opcode;
        let len = payload.len();
        let header_len = if len < 126 {
            header[1] = len as u8;
            2
        } else if let Ok(short) = u16::try_from(len) {
            header[1] = 126;
            header[2..4].copy_from_slice(&short.to_be_bytes());
            4
        } else {
            header[1] = 127;
            header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        };
        Some(Self {
            header,
            header_len,
            payload,
        })
    }

    fn header(&self) -> &[u8] {
        &self.header[..usize::from(self.header_len)]
    }
}

/// Writes the frames in order and flushes.
pub async fn write_frames<W>(io: &mut W, frames: &[Frame]) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    let mut slices = Vec::with_capacity(frames.len() * 2);
    for frame in frames {
        slices.push(IoSlice::new(frame.header()));
        if !frame.payload.is_empty() {
            slices.push(IoSlice::new(&frame.payload));
        }
    }
    let mut remaining = &mut slices[..];
    while !remaining.is_empty() {
        let written = io.write_vectored(remaining).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut remaining, written);
    }
    io.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;

    async fn bytes_of(messages: Vec<Message>) -> Vec<u8> {
        let frames: Vec<Frame> = messages.into_iter().filter_map(Frame::new).collect();
        let mut out = Vec::new();
        write_frames(&mut out, &frames)
            .await
            .expect("write to a Vec");
        out
    }

    #[tokio::test]
    async fn short_text_frame() {
        assert_eq!(bytes_of(vec![Message::text("hi")]).await, b"\x81\x02hi");
    }

    #[tokio::test]
    async fn lengths_use_the_shortest_form() {
        for (len, header) in [
            (125, vec![0x81, 125]),
            (126, vec![0x81, 126, 0, 126]),
            (65_535, vec![0x81, 126, 0xFF, 0xFF]),
            (65_536, vec![0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ] {
            let out = bytes_of(vec![Message::text("x".repeat(len))]).await;
            assert_eq!(&out[..header.len()], &header[..], "length {len}");
            assert_eq!(out.len(), header.len() + len);
        }
    }

    #[tokio::test]
    async fn batch_keeps_order_and_control_frames() {
        let close = CloseFrame {
            code: CloseCode::Away,
            reason: "bye".into(),
        };
        let out = bytes_of(vec![
            Message::text("a"),
            Message::Pong(Bytes::from_static(b"p")),
            Message::Close(Some(close)),
            Message::Close(None),
        ])
        .await;
        assert_eq!(
            out,
            b"\x81\x01a\x8A\x01p\x88\x05\x03\xE9bye\x88\x00".to_vec()
        );
    }
}
