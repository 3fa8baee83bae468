//! One benchmark client: connect, read `server-list`, join the default server.

use futures_util::{SinkExt, StreamExt};
use memchr::memmem;
use std::net::SocketAddr;
use std::sync::LazyLock;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{client_async_with_config, WebSocketStream};

pub type Ws = WebSocketStream<TcpStream>;

/// What the d-zone frontend sends on a first visit.
const CONNECT: &str = r#"{"type":"connect","data":{"server":null}}"#;

/// Small buffers: thousands of clients live in this one process.
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

/// Opens a WebSocket to `addr` and joins the default server. The error is a
/// short category (used as a counter key).
pub async fn open_and_join(url: &str, addr: SocketAddr) -> Result<Ws, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {}", e.kind()))?;
    let _ = tcp.set_nodelay(true);
    let (mut ws, _response) = client_async_with_config(url, tcp, Some(config()))
        .await
        .map_err(|e| format!("handshake: {}", short(&e.to_string())))?;
    expect(&mut ws, "server-list").await?;
    ws.send(Message::text(CONNECT))
        .await
        .map_err(|e| format!("send connect: {}", short(&e.to_string())))?;
    expect(&mut ws, "server-join").await?;
    Ok(ws)
}

/// Reads until a frame of type `want` arrives; other frames are skipped.
async fn expect(ws: &mut Ws, want: &str) -> Result<(), String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => match frame_type(text.as_str()) {
                Some(kind) if kind == want => return Ok(()),
                Some("error") => return Err(format!("error frame while waiting for {want}")),
                _ => {}
            },
            Some(Ok(Message::Close(frame))) => {
                let code = frame.map(|f| u16::from(f.code)).unwrap_or(0);
                return Err(format!("closed ({code}) while waiting for {want}"));
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => {
                return Err(format!("read ({want}): {}", short(&error.to_string())));
            }
            None => return Err(format!("eof while waiting for {want}")),
        }
    }
}

/// Reads and discards frames until the connection ends (pings are answered
/// by tungstenite while reading).
pub async fn hold(mut ws: Ws) {
    while let Some(Ok(_)) = ws.next().await {}
}

/// The value of the top-level `"type"` key, without parsing the whole frame
/// (the servers put it first).
pub fn frame_type(text: &str) -> Option<&str> {
    let at = text.find("\"type\"")?;
    let rest = text[at + 6..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(&rest[..rest.find('"')?])
}

/// `seq:<n>:<scheduled_ns>:<called_ns>` inside a frame → the three numbers.
pub fn parse_seq(text: &str) -> Option<(u64, u64, u64)> {
    // Built once: this runs for every frame of a fan-out, 500,000 a second at
    // 10,000 clients, on the core the server needs too.
    static SEQ: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new("\"seq:"));
    let at = SEQ.find(text.as_bytes())?;
    let bytes = text.as_bytes();
    let mut i = at + 5;
    let mut out = [0u64; 3];
    for (n, slot) in out.iter_mut().enumerate() {
        let start = i;
        let mut value: u64 = 0;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(bytes[i] - b'0'))?;
            i += 1;
        }
        if i == start {
            return None;
        }
        *slot = value;
        let sep = if n < 2 { b':' } else { b'"' };
        if bytes.get(i) != Some(&sep) {
            return None;
        }
        i += 1;
    }
    Some((out[0], out[1], out[2]))
}

fn short(text: &str) -> String {
    text.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_type() {
        assert_eq!(
            frame_type(r#"{"type": "server-join", "data": {}}"#),
            Some("server-join")
        );
        assert_eq!(frame_type(r#"{"type":"message"}"#), Some("message"));
        assert_eq!(frame_type(r#"{"data": 1}"#), None);
    }

    #[test]
    fn reads_the_sequence() {
        let frame = r#"{"type": "message", "server": "1", "data": {"uid": "u", "message": "seq:12:1700000000000000000:1700000000000000123", "channel": "c"}}"#;
        assert_eq!(
            parse_seq(frame),
            Some((12, 1_700_000_000_000_000_000, 1_700_000_000_000_000_123))
        );
        assert_eq!(parse_seq(r#"{"message": "seq:1:2"}"#), None);
        assert_eq!(parse_seq(r#"{"message": "hello"}"#), None);
    }
}
