use super::*;
use proptest::prelude::*;

const LIMIT: usize = 1 << 16;

/// A client frame as a browser would send it: masked.
fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        len @ 0..=125 => out.push(0x80 | len as u8),
        len @ 126..=65_535 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    client_frame(fin, opcode, payload, [0x37, 0xfa, 0x21, 0x3d])
}

/// Everything `bytes` decodes to, fed in one piece.
fn decode_all(bytes: &[u8]) -> Result<Vec<Message>, ReadError> {
    let mut decoder = Decoder::new(LIMIT, LIMIT);
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(message) = decoder.decode(&mut buf)? {
        out.push(message);
    }
    Ok(out)
}

fn first_error(bytes: &[u8]) -> ReadError {
    decode_all(bytes).expect_err("the input is invalid")
}

#[test]
fn masked_text_and_binary() {
    let mut input = frame(true, OP_TEXT, "héllo".as_bytes());
    input.extend(frame(true, OP_BINARY, &[0, 1, 2, 255]));
    assert_eq!(
        decode_all(&input),
        Ok(vec![
            Message::text("héllo"),
            Message::binary(vec![0, 1, 2, 255])
        ])
    );
}

#[test]
fn incomplete_input_waits_and_keeps_its_bytes() {
    let input = frame(true, OP_TEXT, &[b'a'; 300]);
    let mut decoder = Decoder::new(LIMIT, LIMIT);
    let mut buf = BytesMut::new();
    for (i, byte) in input.iter().enumerate() {
        buf.extend_from_slice(&[*byte]);
        let decoded = decoder.decode(&mut buf).expect("valid");
        if i + 1 < input.len() {
            assert_eq!(decoded, None, "after {} bytes", i + 1);
        } else {
            assert_eq!(decoded, Some(Message::text("a".repeat(300))));
        }
    }
    assert!(buf.is_empty());
}

#[test]
fn framing_rules_are_enforced() {
    let mut unmasked = frame(true, OP_TEXT, b"x");
    unmasked[1] &= 0x7F;
    unmasked.truncate(2);
    assert_eq!(
        first_error(&unmasked),
        ReadError::Protocol("client frame not masked")
    );
    let mut reserved_bits = frame(true, OP_TEXT, b"x");
    reserved_bits[0] |= 0x40;
    assert_eq!(
        first_error(&reserved_bits),
        ReadError::Protocol("reserved bits set")
    );
    for opcode in [3, 7, 0xB, 0xF] {
        assert_eq!(
            first_error(&frame(true, opcode, b"")),
            ReadError::Protocol("reserved opcode")
        );
    }
    assert_eq!(
        first_error(&frame(false, OP_PING, b"")),
        ReadError::Protocol("fragmented control frame")
    );
    assert_eq!(
        first_error(&frame(true, OP_PONG, &[0; 126])),
        ReadError::Protocol("control frame too long")
    );
    assert_eq!(
        first_error(&frame(true, OP_CONTINUATION, b"x")),
        ReadError::Protocol("continuation without a message")
    );
    let mut nested = frame(false, OP_TEXT, b"a");
    nested.extend(frame(true, OP_TEXT, b"b"));
    assert_eq!(
        first_error(&nested),
        ReadError::Protocol("new message inside a fragmented one")
    );
    let mut huge = vec![0x82, 0x80 | 127];
    huge.extend_from_slice(&(1u64 << 63).to_be_bytes());
    assert_eq!(
        first_error(&huge),
        ReadError::Protocol("frame length has its top bit set")
    );
}

#[test]
fn oversized_frames_fail_from_the_header_alone() {
    let mut decoder = Decoder::new(100, 1000);
    let mut header = BytesMut::from(&frame(true, OP_BINARY, &[0; 101])[..14]);
    assert_eq!(decoder.decode(&mut header), Err(ReadError::FrameTooBig));
}

#[test]
fn oversized_messages_fail_across_fragments() {
    let mut decoder = Decoder::new(100, 150);
    let mut input = frame(false, OP_TEXT, &[b'a'; 100]);
    input.extend(frame(true, OP_CONTINUATION, &[b'a'; 51]));
    let mut buf = BytesMut::from(&input[..]);
    assert_eq!(decoder.decode(&mut buf), Err(ReadError::MessageTooBig));
}

#[test]
fn fragments_reassemble_with_control_frames_between() {
    let text = "añb€c";
    let bytes = text.as_bytes();
    // Split inside the two-byte "ñ" and the three-byte "€".
    let mut input = frame(false, OP_TEXT, &bytes[..2]);
    input.extend(frame(true, OP_PING, b"p"));
    input.extend(frame(false, OP_CONTINUATION, &bytes[2..6]));
    input.extend(frame(true, OP_CONTINUATION, &bytes[6..]));
    assert_eq!(
        decode_all(&input),
        Ok(vec![
            Message::Ping(Bytes::from_static(b"p")),
            Message::text(text)
        ])
    );
}

#[test]
fn invalid_utf8_fails_in_the_first_bad_fragment() {
    let mut decoder = Decoder::new(LIMIT, LIMIT);
    let mut buf = BytesMut::from(&frame(false, OP_TEXT, b"ok\xFFmore")[..]);
    assert_eq!(decoder.decode(&mut buf), Err(ReadError::InvalidUtf8));
    assert_eq!(
        first_error(&frame(true, OP_TEXT, b"\xC3")),
        ReadError::InvalidUtf8
    );
}

#[test]
fn close_payloads() {
    assert_eq!(
        decode_all(&frame(true, OP_CLOSE, b"")),
        Ok(vec![Message::Close(None)])
    );
    let mut normal = 1000u16.to_be_bytes().to_vec();
    normal.extend_from_slice(b"bye");
    assert_eq!(
        decode_all(&frame(true, OP_CLOSE, &normal)),
        Ok(vec![Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into()
        }))])
    );
    assert_eq!(
        first_error(&frame(true, OP_CLOSE, b"\x03")),
        ReadError::Protocol("close payload of one byte")
    );
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        assert_eq!(
            first_error(&frame(true, OP_CLOSE, &code.to_be_bytes())),
            ReadError::Protocol("close code not allowed"),
            "code {code}"
        );
    }
    for code in [1000u16, 1001, 1003, 1007, 1011, 3000, 4999] {
        assert!(decode_all(&frame(true, OP_CLOSE, &code.to_be_bytes())).is_ok());
    }
    let mut bad_reason = 1000u16.to_be_bytes().to_vec();
    bad_reason.push(0xFF);
    assert_eq!(
        first_error(&frame(true, OP_CLOSE, &bad_reason)),
        ReadError::InvalidUtf8
    );
}

#[derive(Debug, Clone)]
enum Sent {
    Text(String, usize),
    Binary(Vec<u8>, usize),
    Ping(Vec<u8>),
}

fn sent() -> impl Strategy<Value = Sent> {
    prop_oneof![
        (".{0,300}", 1usize..4).prop_map(|(s, n)| Sent::Text(s, n)),
        (prop::collection::vec(any::<u8>(), 0..70_000), 1usize..4)
            .prop_map(|(b, n)| Sent::Binary(b, n)),
        prop::collection::vec(any::<u8>(), 0..126).prop_map(Sent::Ping),
    ]
}

/// `payload` in `parts` fragments (the last ones may be empty).
fn fragments(opcode: u8, payload: &[u8], parts: usize, mask: [u8; 4]) -> Vec<u8> {
    let step = payload.len().div_ceil(parts).max(1);
    let mut out = Vec::new();
    let chunks: Vec<&[u8]> = payload.chunks(step).collect();
    let count = chunks.len().max(1);
    for i in 0..count {
        let chunk = chunks.get(i).copied().unwrap_or(&[]);
        let op = if i == 0 { opcode } else { OP_CONTINUATION };
        out.extend(client_frame(i + 1 == count, op, chunk, mask));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever the messages, fragmentation, masks and read boundaries, the
    /// decoder gives back exactly the messages sent.
    #[test]
    fn any_split_decodes_to_the_sent_messages(
        messages in prop::collection::vec(sent(), 1..6),
        mask in any::<[u8; 4]>(),
        cuts in prop::collection::vec(1usize..5000, 0..20),
    ) {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for message in &messages {
            match message {
                Sent::Text(text, parts) => {
                    input.extend(fragments(OP_TEXT, text.as_bytes(), *parts, mask));
                    expected.push(Message::text(text.clone()));
                }
                Sent::Binary(data, parts) => {
                    input.extend(fragments(OP_BINARY, data, *parts, mask));
                    expected.push(Message::binary(data.clone()));
                }
                Sent::Ping(data) => {
                    input.extend(client_frame(true, OP_PING, data, mask));
                    expected.push(Message::Ping(Bytes::from(data.clone())));
                }
            }
        }
        let mut decoder = Decoder::new(1 << 20, 1 << 20);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut rest = &input[..];
        for cut in cuts.iter().chain(std::iter::once(&usize::MAX)) {
            let (now, later) = rest.split_at((*cut).min(rest.len()));
            buf.extend_from_slice(now);
            rest = later;
            while let Some(message) = decoder.decode(&mut buf).expect("valid input") {
                got.push(message);
            }
        }
        prop_assert_eq!(got, expected);
        prop_assert!(buf.is_empty());
    }
}
