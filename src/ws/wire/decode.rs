//! Client frames to messages (RFC 6455 §5), without I/O: bytes go in through a
//! buffer, whole messages and control frames come out.

use bytes::{Buf, Bytes, BytesMut};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::frame::Utf8Bytes;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// Why a client's bytes cannot be read further; each maps to a close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// A framing rule was broken (1002).
    Protocol(&'static str),
    /// One frame is longer than the frame limit (1009).
    FrameTooBig,
    /// A message (all its fragments) is longer than the message limit (1009).
    MessageTooBig,
    /// A text message or close reason is not UTF-8 (1007).
    InvalidUtf8,
}

impl ReadError {
    /// The close code and reason sent to the client.
    pub fn close_frame(self) -> CloseFrame {
        let (code, reason) = match self {
            ReadError::Protocol(_) => (CloseCode::Protocol, "protocol error"),
            ReadError::FrameTooBig => (CloseCode::Size, "frame too big"),
            ReadError::MessageTooBig => (CloseCode::Size, "message too big"),
            ReadError::InvalidUtf8 => (CloseCode::Invalid, "invalid UTF-8"),
        };
        CloseFrame {
            code,
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Protocol(rule) => write!(f, "protocol error: {rule}"),
            ReadError::FrameTooBig => f.write_str("frame too big"),
            ReadError::MessageTooBig => f.write_str("message too big"),
            ReadError::InvalidUtf8 => f.write_str("invalid UTF-8"),
        }
    }
}

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// A text or binary message whose later fragments are still to come.
struct Partial {
    text: bool,
    data: BytesMut,
    /// Bytes of `data` known to be whole, valid UTF-8 (text only).
    checked: usize,
}

/// Turns a client's byte stream into messages, enforcing the size limits
/// before any payload is buffered.
pub struct Decoder {
    max_frame: usize,
    max_message: usize,
    partial: Option<Partial>,
}

/// The parts of a frame header the decoder acts on.
struct Header {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    /// Length of the header itself.
    size: usize,
    payload: usize,
}

impl Decoder {
    pub fn new(max_frame: usize, max_message: usize) -> Self {
        Self {
            max_frame,
            max_message,
            partial: None,
        }
    }

    /// The next whole message or control frame in `buf`, consuming its bytes;
    /// `Ok(None)` when more bytes are needed. After an error the stream cannot
    /// be read further.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, ReadError> {
        loop {
            let Some(header) = self.header(buf)? else {
                return Ok(None);
            };
            if buf.len() < header.size + header.payload {
                return Ok(None);
            }
            buf.advance(header.size);
            let mut payload = buf.split_to(header.payload);
            unmask(&mut payload, header.mask);
            if let Some(message) = self.frame(&header, payload)? {
                return Ok(Some(message));
            }
        }
    }

    /// Parses and checks the header at the front of `buf`, if all of it is there.
    fn header(&self, buf: &[u8]) -> Result<Option<Header>, ReadError> {
        let [first, second, ..] = *buf else {
            return Ok(None);
        };
        let fin = first & 0x80 != 0;
        if first & 0x70 != 0 {
            return Err(ReadError::Protocol("reserved bits set"));
        }
        let opcode = first & 0x0F;
        if second & 0x80 == 0 {
            return Err(ReadError::Protocol("client frame not masked"));
        }
        let (length_size, length) = match second & 0x7F {
            126 => match buf.get(2..4) {
                Some(b) => (2, u64::from(u16::from_be_bytes([b[0], b[1]]))),
                None => return Ok(None),
            },
            127 => match buf.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                Some(b) => (8, u64::from_be_bytes(b)),
                None => return Ok(None),
            },
            short => (0, u64::from(short)),
        };
        match opcode {
            OP_CONTINUATION | OP_TEXT | OP_BINARY => {}
            OP_CLOSE | OP_PING | OP_PONG => {
                if !fin {
                    return Err(ReadError::Protocol("fragmented control frame"));
                }
                if length > 125 {
                    return Err(ReadError::Protocol("control frame too long"));
                }
            }
            _ => return Err(ReadError::Protocol("reserved opcode")),
        }
        if length >> 63 != 0 {
            return Err(ReadError::Protocol("frame length has its top bit set"));
        }
        let payload = usize::try_from(length).map_err(|_| ReadError::FrameTooBig)?;
        if payload > self.max_frame {
            return Err(ReadError::FrameTooBig);
        }
        let mask_at = 2 + length_size;
        let Some(mask) = buf
            .get(mask_at..mask_at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
        else {
            return Ok(None);
        };
        Ok(Some(Header {
            fin,
            opcode,
            mask,
            size: mask_at + 4,
            payload,
        }))
    }

    /// Acts on one unmasked frame; a message when it completes one.
    fn frame(&mut self, header: &Header, payload: BytesMut) -> Result<Option<Message>, ReadError> {
        match header.opcode {
            OP_PING => Ok(Some(Message::Ping(payload.freeze()))),
            OP_PONG => Ok(Some(Message::Pong(payload.freeze()))),
            OP_CLOSE => close(payload.freeze()).map(|frame| Some(Message::Close(frame))),
            OP_CONTINUATION => self.continuation(header.fin, payload),
            opcode => {
                if self.partial.is_some() {
                    return Err(ReadError::Protocol("new message inside a fragmented one"));
                }
                if payload.len() > self.max_message {
                    return Err(ReadError::MessageTooBig);
                }
                let text = opcode == OP_TEXT;
                if header.fin {
                    return whole(text, payload).map(Some);
                }
                let mut partial = Partial {
                    text,
                    data: payload,
                    checked: 0,
                };
                check_utf8_prefix(&mut partial)?;
                self.partial = Some(partial);
                Ok(None)
            }
        }
    }

    fn continuation(&mut self, fin: bool, payload: BytesMut) -> Result<Option<Message>, ReadError> {
        let Some(mut partial) = self.partial.take() else {
            return Err(ReadError::Protocol("continuation without a message"));
        };
        if partial.data.len() + payload.len() > self.max_message {
            return Err(ReadError::MessageTooBig);
        }
        partial.data.extend_from_slice(&payload);
        check_utf8_prefix(&mut partial)?;
        if !fin {
            self.partial = Some(partial);
            return Ok(None);
        }
        whole(partial.text, partial.data).map(Some)
    }
}

fn whole(text: bool, data: BytesMut) -> Result<Message, ReadError> {
    if text {
        Utf8Bytes::try_from(data.freeze())
            .map(Message::Text)
            .map_err(|_| ReadError::InvalidUtf8)
    } else {
        Ok(Message::Binary(data.freeze()))
    }
}

/// Fails a fragmented text message as soon as its bytes cannot be UTF-8,
/// instead of waiting for the last fragment.
fn check_utf8_prefix(partial: &mut Partial) -> Result<(), ReadError> {
    if !partial.text {
        return Ok(());
    }
    match std::str::from_utf8(&partial.data[partial.checked..]) {
        Ok(_) => partial.checked = partial.data.len(),
        // An incomplete character at the end may be finished by the next fragment.
        Err(error) if error.error_len().is_none() => partial.checked += error.valid_up_to(),
        Err(_) => return Err(ReadError::InvalidUtf8),
    }
    Ok(())
}

/// The payload of a close frame: nothing, or a code and a UTF-8 reason.
fn close(payload: Bytes) -> Result<Option<CloseFrame>, ReadError> {
    match payload.len() {
        0 => return Ok(None),
        1 => return Err(ReadError::Protocol("close payload of one byte")),
        _ => {}
    }
    let code = CloseCode::from(u16::from_be_bytes([payload[0], payload[1]]));
    if !code.is_allowed() {
        return Err(ReadError::Protocol("close code not allowed"));
    }
    let reason = Utf8Bytes::try_from(payload.slice(2..)).map_err(|_| ReadError::InvalidUtf8)?;
    Ok(Some(CloseFrame { code, reason }))
}

/// XORs the payload with the client's masking key.
fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let word = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = payload.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    let done = payload.len() - payload.len() % 8;
    for (i, byte) in payload[done..].iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
