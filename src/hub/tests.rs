use super::*;
use std::net::{IpAddr, Ipv4Addr};

fn addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40000)
}

fn text(message: Message) -> String {
    match message {
        Message::Text(t) => t.as_str().to_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

fn limits(frames: usize) -> QueueLimits {
    QueueLimits {
        frames,
        bytes: 1 << 20,
    }
}

async fn join(hub: &Hub, id: ConnId, outbox: &Outbox, key: &str) {
    let slot = outbox.reserve().await.expect("open queue");
    hub.join(id, key, key.to_owned(), slot, format!("join {key}"));
}

#[tokio::test]
async fn broadcasts_reach_only_the_room() {
    let hub = Hub::new();
    let (a, a_out, mut a_in) = hub.register(addr(), limits(8));
    let (b, b_out, mut b_in) = hub.register(addr(), limits(8));
    let (_c, _c_out, mut c_in) = hub.register(addr(), limits(8));
    join(&hub, a, &a_out, "one").await;
    join(&hub, b, &b_out, "two").await;
    assert_eq!(hub.broadcast("one", "hello one"), 1);
    assert_eq!(hub.broadcast("nobody", "x"), 0);
    assert_eq!(text(a_in.recv().await.expect("join")), "join one");
    assert_eq!(text(a_in.recv().await.expect("frame")), "hello one");
    assert_eq!(text(b_in.recv().await.expect("join")), "join two");
    assert!(b_in.try_recv().is_none());
    assert!(
        c_in.try_recv().is_none(),
        "not-joined connections get nothing"
    );
}

#[tokio::test]
async fn rejoin_moves_membership() {
    let hub = Hub::new();
    let (a, a_out, mut a_in) = hub.register(addr(), limits(8));
    join(&hub, a, &a_out, "one").await;
    join(&hub, a, &a_out, "two").await;
    assert_eq!(hub.room_len("one"), 0);
    assert_eq!(hub.broadcast("one", "old"), 0);
    assert_eq!(hub.broadcast("two", "new"), 1);
    let received: Vec<String> = std::iter::from_fn(|| a_in.try_recv()).map(text).collect();
    assert_eq!(received, ["join one", "join two", "new"]);
    let info = &hub.connections()[0];
    assert_eq!(info.server_key.as_deref(), Some("two"));
}

#[tokio::test]
async fn full_queue_drops_instead_of_blocking() {
    let hub = Hub::new();
    let (a, a_out, mut a_in) = hub.register(addr(), limits(2));
    join(&hub, a, &a_out, "k").await;
    assert_eq!(hub.broadcast("k", "1"), 1);
    assert_eq!(
        hub.broadcast("k", "2"),
        0,
        "queue holds the join and one frame"
    );
    assert_eq!(hub.dropped(), 1);
    assert_eq!(text(a_in.recv().await.expect("join")), "join k");
    assert_eq!(text(a_in.recv().await.expect("frame")), "1");
    assert_eq!(hub.broadcast("k", "3"), 1, "drained queue accepts again");
}

#[tokio::test]
async fn unregister_forgets_connection_and_room() {
    let hub = Hub::new();
    let (a, a_out, _a_in) = hub.register(addr(), limits(8));
    join(&hub, a, &a_out, "k").await;
    assert_eq!(hub.len(), 1);
    hub.unregister(a);
    assert!(hub.is_empty());
    assert_eq!(hub.room_len("k"), 0);
    assert!(!hub.send_to(a, "x"));
}

#[tokio::test]
async fn broadcast_frames_share_one_buffer() {
    let hub = Hub::new();
    let mut inboxes = Vec::new();
    for _ in 0..3 {
        let (id, out, inbox) = hub.register(addr(), limits(8));
        join(&hub, id, &out, "k").await;
        inboxes.push(inbox);
    }
    hub.broadcast("k", String::from("shared"));
    let pointers: Vec<*const u8> = inboxes
        .iter_mut()
        .map(|inbox| {
            let _join = inbox.try_recv().expect("join");
            match inbox.try_recv().expect("frame") {
                Message::Text(t) => t.as_str().as_ptr(),
                other => panic!("{other:?}"),
            }
        })
        .collect();
    assert!(
        pointers.windows(2).all(|w| w[0] == w[1]),
        "one encoding for all recipients"
    );
}
