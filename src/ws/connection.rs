//! One WebSocket connection: `server-list` on open, then client frames one at a
//! time in arrival order, keepalive pings, the mock events of a joined
//! mock-mode client, and the closing handshake.

use super::join;
use super::keepalive::{Due, Keepalive};
use super::wire::{Decoder, FrameReader, ReadFailure};
use super::writer::Writer;
use super::WsContext;
use crate::hub::{ConnId, Outbox};
use crate::protocol::client::{self, ClientFrame, ConnectRequest};
use crate::protocol::frames;
use crate::provider::MockEvents;
use crate::tcp_cork::Cork;
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::time::{Instant, Interval};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// Serves one upgraded connection until it closes or the server stops.
/// `already_read` holds bytes the client sent right behind its upgrade request.
pub async fn serve(
    stream: TcpStream,
    already_read: Bytes,
    remote: SocketAddr,
    ctx: Arc<WsContext>,
    shutdown: CancellationToken,
) {
    let (id, outbox, inbox) = ctx.hub.register(remote, ctx.config.queue_limits());
    let registration = Registration { ctx: &ctx, id };
    let cork = ctx.config.sends_server_list().then(|| Cork::of(&stream));
    let (read_half, write_half) = stream.into_split();
    let decoder = Decoder::new(ctx.config.max_frame_size, ctx.config.max_message_size);
    let source = FrameReader::new(read_half, already_read, decoder);
    let writer = Writer { inbox, cork };
    let writer_ctx = Arc::clone(&ctx);
    let writer_done = CancellationToken::new();
    let done = writer_done.clone();
    let mut writer = tokio::spawn(async move {
        let _done = done.drop_guard();
        writer.run(write_half, &writer_ctx.config).await
    });

    let mut session = Session {
        ctx: &ctx,
        id,
        outbox,
        keepalive: Keepalive::new(&ctx.config),
        mock: None,
        joined: false,
    };
    session.read_loop(source, &shutdown, &writer_done).await;

    // Leaving the hub and dropping our queue handle lets the writer finish its
    // queue and close; wait for that within the close timeout.
    drop(registration);
    drop(session);
    if tokio::time::timeout(ctx.config.close_timeout, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
}

/// Removes the connection from the hub however the task ends (panics included).
struct Registration<'a> {
    ctx: &'a WsContext,
    id: ConnId,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.ctx.hub.unregister(self.id);
    }
}

struct Session<'a> {
    ctx: &'a WsContext,
    id: ConnId,
    outbox: Outbox,
    keepalive: Keepalive,
    mock: Option<MockTimers>,
    /// Whether a `connect` has succeeded on this socket.
    joined: bool,
}

struct MockTimers {
    events: MockEvents,
    presence: Interval,
    message: Interval,
}

enum Wake {
    Frame(Option<Result<Message, ReadFailure>>),
    Keepalive(Due),
    Presence,
    Message,
    Shutdown,
    WriterGone,
    JoinTimeout,
}

impl Session<'_> {
    async fn read_loop(
        &mut self,
        mut source: FrameReader,
        shutdown: &CancellationToken,
        writer_done: &CancellationToken,
    ) {
        if self.ctx.config.sends_server_list() {
            let list = join::server_list(self.ctx).await;
            self.reply(list).await;
        }
        let join_deadline = self
            .ctx
            .config
            .join_timeout
            .map(|limit| Instant::now() + limit);
        loop {
            let wake = tokio::select! {
                biased;
                _ = shutdown.cancelled() => Wake::Shutdown,
                _ = writer_done.cancelled() => Wake::WriterGone,
                frame = source.next() => Wake::Frame(frame),
                due = self.keepalive.next() => Wake::Keepalive(due),
                wake = next_mock_event(self.mock.as_mut()) => wake,
                _ = sleep_until(join_deadline), if !self.joined => Wake::JoinTimeout,
            };
            match wake {
                Wake::Frame(Some(Ok(Message::Close(frame)))) => {
                    // Answer with the client's code, then end the connection.
                    return self.close_with(CloseFrame {
                        code: frame.map_or(CloseCode::Normal, |frame| frame.code),
                        reason: Default::default(),
                    });
                }
                Wake::Frame(Some(Ok(message))) => {
                    self.keepalive.heard();
                    // Boxed: a join's state (callbacks in flight) is large and
                    // short-lived; an idle connection should not carry its space.
                    let handled = tokio::select! {
                        biased;
                        _ = shutdown.cancelled() => false,
                        _ = Box::pin(self.handle(message)) => true,
                    };
                    if !handled {
                        self.close_with(going_away());
                        return self.finish_closing(source).await;
                    }
                }
                Wake::Frame(Some(Err(ReadFailure::Bad(error)))) => {
                    tracing::debug!(%error, "closing WebSocket after a bad frame");
                    self.close_with(error.close_frame());
                    return self.finish_closing(source).await;
                }
                Wake::Frame(Some(Err(ReadFailure::Io(error)))) => {
                    tracing::debug!(%error, "WebSocket read ended");
                    return;
                }
                Wake::Frame(None) | Wake::WriterGone => return,
                Wake::Keepalive(Due::Ping) => {
                    // A full queue means the writer is busy anyway; it closes
                    // the connection itself if the client stops reading.
                    let _ = self.outbox.offer(Message::Ping(Default::default()));
                }
                Wake::Keepalive(Due::Dead) => {
                    return self.close_with(CloseFrame {
                        code: CloseCode::Error,
                        reason: "keepalive ping timeout".into(),
                    });
                }
                Wake::Presence => self.mock_event(MockEvents::presence),
                Wake::Message => self.mock_event(MockEvents::message),
                Wake::Shutdown => {
                    self.close_with(going_away());
                    return self.finish_closing(source).await;
                }
                Wake::JoinTimeout => {
                    self.close_with(CloseFrame {
                        code: CloseCode::Policy,
                        reason: "no connect request in time".into(),
                    });
                    return self.finish_closing(source).await;
                }
            }
        }
    }

    /// After the writer sent a closing frame, wait (bounded) for the client's.
    async fn finish_closing(&mut self, mut source: FrameReader) {
        let deadline = Instant::now() + self.ctx.config.close_timeout;
        loop {
            match tokio::time::timeout_at(deadline, source.next()).await {
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => return,
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    async fn handle(&mut self, message: Message) {
        if self.ctx.config.echo && !message.is_ping() {
            if message.is_text() || message.is_binary() {
                self.ctx.hub.reply(&self.outbox, message).await;
            }
            return;
        }
        let frame = match &message {
            Message::Text(text) => client::parse_text(text.as_str()),
            Message::Binary(bytes) => client::parse_binary(bytes),
            Message::Ping(payload) => {
                let _ = self.outbox.send(Message::Pong(payload.clone())).await;
                return;
            }
            // Pongs only show the client is alive; closes end the read loop.
            _ => return,
        };
        match frame {
            ClientFrame::Connect(request) => self.connect(&request).await,
            ClientFrame::Invalid(error) => self.reply(frames::error(error)).await,
        }
    }

    async fn connect(&mut self, request: &ConnectRequest) {
        let joined = match join::connect(self.ctx, request).await {
            Ok(joined) => joined,
            Err(error) => return self.reply(frames::error(error)).await,
        };
        // Broadcasts called before now still go by the old membership.
        self.ctx.hub.queued_broadcasts_sent().await;
        let Some(slot) = self.outbox.reserve().await else {
            return;
        };
        let requested = request.server.clone();
        self.ctx
            .hub
            .join(self.id, &joined.key, requested, slot, joined.frame);
        self.joined = true;
        self.mock = if self.ctx.provider.mock_events() {
            MockEvents::for_mock_server(&joined.key).map(|events| self.mock_timers(events))
        } else {
            None
        };
    }

    fn mock_timers(&self, events: MockEvents) -> MockTimers {
        let interval = |period| tokio::time::interval_at(Instant::now() + period, period);
        MockTimers {
            events,
            presence: interval(self.ctx.config.mock_presence_interval),
            message: interval(self.ctx.config.mock_message_interval),
        }
    }

    fn mock_event(&self, make: fn(&MockEvents) -> String) {
        if let Some(mock) = &self.mock {
            self.ctx
                .hub
                .offer(&self.outbox, Message::text(make(&mock.events)));
        }
    }

    /// Queues a reply to this client, waiting for room in its own queue.
    async fn reply(&self, frame: String) {
        let _ = self.ctx.hub.reply(&self.outbox, Message::text(frame)).await;
    }

    /// Asks the writer to send a closing frame; the connection then ends.
    fn close_with(&mut self, frame: CloseFrame) {
        self.outbox.request_close(frame);
    }
}

/// The closing frame of a stopping server.
fn going_away() -> CloseFrame {
    CloseFrame {
        code: CloseCode::Away,
        reason: Default::default(),
    }
}

/// Sleeps until `deadline`; forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The next mock timer to fire; never, for a connection without mock events.
async fn next_mock_event(mock: Option<&mut MockTimers>) -> Wake {
    match mock {
        Some(mock) => tokio::select! {
            _ = mock.presence.tick() => Wake::Presence,
            _ = mock.message.tick() => Wake::Message,
        },
        None => std::future::pending().await,
    }
}
