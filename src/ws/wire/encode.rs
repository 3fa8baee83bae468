//! Server frames (unmasked, never fragmented). A batch of small frames is
//! copied into one buffer for a single `write`; large frames go out with
//! vectored writes straight from the messages' shared buffers. Either way no
//! per-connection write buffer stays allocated between writes.

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

/// Batches whose frames average at most this many bytes are copied into one
/// buffer before writing. The kernel takes about 60 ns per iovec on loopback
/// (0.8 µs less for 7 broadcast frames in one buffer than as 14 iovecs), more
/// than copying a frame this small costs; a large lone frame (a `server-join`)
/// is not worth copying. The buffer is at most this much per queued frame.
const GATHER_AVERAGE_MAX: usize = 1024;

/// Writes the frames in order and flushes.
pub async fn write_frames<W>(io: &mut W, frames: &[Frame]) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    let total: usize = frames
        .iter()
        .map(|frame| frame.header().len() + frame.payload.len())
        .sum();
    if total <= frames.len() * GATHER_AVERAGE_MAX {
        let mut gathered = Vec::with_capacity(total);
        for frame in frames {
            gathered.extend_from_slice(frame.header());
            gathered.extend_from_slice(&frame.payload);
        }
        io.write_all(&gathered).await?;
        return io.flush().await;
    }
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

    /// Accepts at most a few bytes per write, like a socket with a full buffer.
    struct Trickle(Vec<u8>);

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            let taken = buf.len().min(7);
            self.0.extend_from_slice(&buf[..taken]);
            std::task::Poll::Ready(Ok(taken))
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn partial_writes_resume_where_they_stopped() {
        // Gathered and vectored: the same bytes either way.
        for size in [100, 4 * GATHER_AVERAGE_MAX] {
            let texts: Vec<String> = (0..3)
                .map(|i| char::from(b'a' + i).to_string().repeat(size))
                .collect();
            let frames: Vec<Frame> = texts
                .iter()
                .filter_map(|t| Frame::new(Message::text(t.as_str())))
                .collect();
            let mut trickle = Trickle(Vec::new());
            write_frames(&mut trickle, &frames).await.expect("write");
            let mut expected = Vec::new();
            for text in &texts {
                expected.extend_from_slice(&bytes_of(vec![Message::text(text.as_str())]).await);
            }
            assert_eq!(trickle.0, expected, "frames of {size} bytes");
        }
    }
}
