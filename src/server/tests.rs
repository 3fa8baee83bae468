//! End-to-end tests of the core with a real WebSocket client, no Python.

use super::*;
use crate::provider::MockProvider;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(5);

async fn start(ws: WsConfig) -> Server {
    let parts = ServerParts {
        hub: Arc::new(Hub::new()),
        provider: Arc::new(MockProvider),
        static_root: Arc::new(StaticRoot::new("/nonexistent")),
        ws,
        http: HttpLimits::default(),
        access: AccessPolicy::default(),
    };
    Server::bind("127.0.0.1", 0, parts).await.expect("bind")
}

async fn connect(server: &Server, path: &str) -> Client {
    let url = format!("ws://{}{}", server.local_addrs()[0], path);
    let (client, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    client
}

async fn next_text(client: &mut Client) -> String {
    loop {
        let message = tokio::time::timeout(WAIT, client.next())
            .await
            .expect("frame in time");
        match message.expect("open").expect("frame") {
            Message::Text(text) => return text.as_str().to_owned(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Reads until the server closes (answering its close, as browsers do);
/// returns the close code.
fn read_until_close(mut client: Client) -> tokio::task::JoinHandle<Option<CloseCode>> {
    tokio::spawn(async move {
        loop {
            match tokio::time::timeout(WAIT, client.next())
                .await
                .expect("close in time")
            {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
}

async fn send(client: &mut Client, text: &str) {
    client.send(Message::text(text)).await.expect("send");
}

#[tokio::test]
async fn server_list_then_join_then_mock_events() {
    let server = start(WsConfig {
        mock_presence_interval: Duration::from_millis(20),
        mock_message_interval: Duration::from_millis(30),
        ..WsConfig::default()
    })
    .await;
    let mut client = connect(&server, "/ws?x=1").await;
    let list = next_text(&mut client).await;
    assert!(
        list.starts_with(
            r#"{"type": "server-list", "data": {"232769614004748288": {"id": "dworld""#
        ),
        "{list}"
    );
    send(&mut client, r#"{"type":"connect","data":{"server":null}}"#).await;
    let join = next_text(&mut client).await;
    assert!(
        join.starts_with(r#"{"type": "server-join", "data": {"users": {"123456789012345001""#),
        "{join}"
    );
    assert!(
        join.ends_with(r#""request": {"server": "default"}, "serverName": "D-World"}}"#),
        "{join}"
    );
    let mut kinds = std::collections::HashSet::new();
    while kinds.len() < 2 {
        let event: serde_json::Value =
            serde_json::from_str(&next_text(&mut client).await).expect("json");
        assert_eq!(event["server"], "232769614004748288");
        kinds.insert(event["type"].as_str().expect("type").to_owned());
    }
    let closed = read_until_close(client);
    server.stop().await;
    assert_eq!(closed.await.expect("reader"), Some(CloseCode::Away));
}

#[tokio::test]
async fn errors_keep_the_socket_open() {
    let server = start(WsConfig::default()).await;
    let mut client = connect(&server, "/").await;
    next_text(&mut client).await;
    for (input, message) in [
        ("not json", "Invalid JSON"),
        ("[1]", "Unknown event type"),
        (
            r#"{"type":"connect","data":{"server":"nope"}}"#,
            "Sorry, couldn't connect to that Discord server.",
        ),
        (
            r#"{"type":"connect","data":{"server":"oauth"}}"#,
            "This server requires Discord authentication. Please login with Discord.",
        ),
    ] {
        send(&mut client, input).await;
        assert_eq!(
            next_text(&mut client).await,
            format!(r#"{{"type": "error", "data": {{"message": "{message}"}}}}"#)
        );
    }
    client
        .send(Message::binary(vec![0xff]))
        .await
        .expect("send");
    assert_eq!(
        next_text(&mut client).await,
        r#"{"type": "error", "data": {"message": "Invalid binary encoding"}}"#
    );
    let closed = read_until_close(client);
    server.stop().await;
    assert_eq!(closed.await.expect("reader"), Some(CloseCode::Away));
}

#[tokio::test]
async fn stop_closes_clients_with_1001_and_frees_the_port() {
    let server = start(WsConfig::default()).await;
    let addr = server.local_addrs()[0];
    let mut client = connect(&server, "/").await;
    next_text(&mut client).await;
    let closed = read_until_close(client);
    server.stop().await;
    assert_eq!(closed.await.expect("reader"), Some(CloseCode::Away));
    let rebound = bind::bind_all("127.0.0.1", addr.port())
        .await
        .expect("port is free again");
    drop(rebound);
    server.stop().await;
}

#[tokio::test]
async fn oversized_message_closes_with_1009() {
    let server = start(WsConfig {
        max_message_size: 1024,
        max_frame_size: 1024,
        ..WsConfig::default()
    })
    .await;
    let mut client = connect(&server, "/").await;
    next_text(&mut client).await;
    send(&mut client, &"x".repeat(4096)).await;
    let close = loop {
        match tokio::time::timeout(WAIT, client.next())
            .await
            .expect("close in time")
        {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected close, got {other:?}"),
        }
    };
    assert_eq!(close.map(|f| f.code), Some(CloseCode::Size));
    server.stop().await;
}

/// Completes a WebSocket handshake over raw TCP and returns the socket, which
/// the caller may then never read (a stuck browser tab).
async fn raw_websocket(server: &Server) -> TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(server.local_addrs()[0])
        .await
        .expect("connect");
    let request = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.expect("response");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    stream
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_others_keep_receiving() {
    let hub = Arc::new(Hub::new());
    let parts = ServerParts {
        hub: Arc::clone(&hub),
        provider: Arc::new(MockProvider),
        static_root: Arc::new(StaticRoot::new("/nonexistent")),
        ws: WsConfig {
            ping_timeout: Duration::from_millis(300),
            // No mock events in between the numbered broadcasts.
            mock_presence_interval: Duration::from_secs(3600),
            mock_message_interval: Duration::from_secs(3600),
            ..WsConfig::default()
        },
        http: HttpLimits::default(),
        access: AccessPolicy::default(),
    };
    let server = Server::bind("127.0.0.1", 0, parts).await.expect("bind");
    let mut stuck = raw_websocket(&server).await;
    {
        use tokio::io::AsyncWriteExt;
        // A masked text frame: {"type":"connect","data":{}}
        let payload = br#"{"type":"connect","data":{}}"#;
        let mut frame = vec![0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0];
        frame.extend_from_slice(payload);
        stuck.write_all(&frame).await.expect("join");
    }
    let mut healthy = connect(&server, "/").await;
    next_text(&mut healthy).await;
    send(&mut healthy, r#"{"type":"connect","data":{}}"#).await;
    next_text(&mut healthy).await;
    let key = "232769614004748288";
    let deadline = tokio::time::Instant::now() + WAIT;
    let big = "x".repeat(64 * 1024);
    let mut sent = 0;
    while hub.room_len(key) > 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stuck client still joined"
        );
        hub.broadcast(key, format!(r#"{{"n": {sent}, "pad": "{big}"}}"#));
        sent += 1;
        // The healthy client reads everything it is sent, in order.
        let frame: serde_json::Value =
            serde_json::from_str(&next_text(&mut healthy).await).expect("json");
        assert_eq!(frame["n"], sent - 1);
    }
    assert_eq!(hub.len(), 1, "only the healthy client is left");
    drop(stuck);
    let closed = read_until_close(healthy);
    server.stop().await;
    assert_eq!(closed.await.expect("reader"), Some(CloseCode::Away));
}

#[tokio::test]
async fn upgrades_beyond_the_connection_limit_get_503() {
    let parts = ServerParts {
        hub: Arc::new(Hub::new()),
        provider: Arc::new(MockProvider),
        static_root: Arc::new(StaticRoot::new("/nonexistent")),
        ws: WsConfig::default(),
        http: HttpLimits {
            max_connections: 1,
            ..HttpLimits::default()
        },
        access: AccessPolicy::default(),
    };
    let server = Server::bind("127.0.0.1", 0, parts).await.expect("bind");
    let mut first = connect(&server, "/").await;
    next_text(&mut first).await;
    let url = format!("ws://{}/", server.local_addrs()[0]);
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503)
        }
        other => panic!("expected 503, got {other:?}"),
    }
    send(&mut first, "nope").await;
    assert_eq!(
        next_text(&mut first).await,
        r#"{"type": "error", "data": {"message": "Invalid JSON"}}"#
    );
    first.close(None).await.expect("close");
    while first.next().await.is_some() {}
    // The slot is free again once the first connection has fully closed.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut again = loop {
        match tokio_tungstenite::connect_async(&url).await {
            Ok((client, _)) => break client,
            Err(_) if tokio::time::Instant::now() < deadline => tokio::task::yield_now().await,
            Err(error) => panic!("slot never freed: {error}"),
        }
    };
    next_text(&mut again).await;
    let closed = read_until_close(again);
    server.stop().await;
    assert_eq!(closed.await.expect("reader"), Some(CloseCode::Away));
}
