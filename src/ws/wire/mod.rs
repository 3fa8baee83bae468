//! The WebSocket framing layer after the handshake (RFC 6455 §5), written for
//! this server's traffic: tiny client frames, shared broadcast payloads, and
//! tens of thousands of mostly idle connections. Only what a server needs:
//! masked client frames in, unmasked unfragmented frames out, no extensions.

mod decode;
mod encode;
mod reader;

pub use decode::Decoder;
pub use encode::{write_frames, Frame};
pub use reader::{FrameReader, ReadFailure};
