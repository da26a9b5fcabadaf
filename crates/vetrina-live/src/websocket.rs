//! WebSocket frames (RFC 6455), the server's side, without I/O: the client's bytes in, in any
//! pieces, whole messages or the close code that fails the connection out; and the header of the
//! frames a server sends. Nothing is held between messages: a quiet connection costs no buffer
//! (the driver is `vetrina-web`'s `websocket`).

use std::collections::VecDeque;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Close codes (RFC 6455 §7.4.1).
pub const NORMAL: u16 = 1000;
pub const GOING_AWAY: u16 = 1001;
pub const PROTOCOL_ERROR: u16 = 1002;
pub const INVALID_DATA: u16 = 1007;
pub const POLICY_VIOLATION: u16 = 1008;
pub const TOO_BIG: u16 = 1009;

/// What a message is given before its bytes come (a header may claim more than ever follows).
const FIRST_RESERVE: usize = 1024;

/// Control frames carry at most this much (§5.5).
pub const MAX_CONTROL: usize = 125;

/// A message from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong,
    /// The client closes, with its status code if it gave one.
    Close(Option<u16>),
}

/// The client broke the protocol: the connection is failed with this close code (§7.1.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub code: u16,
    pub reason: &'static str,
}

fn violation<T>(code: u16, reason: &'static str) -> Result<T, Violation> {
    Err(Violation { code, reason })
}

/// The frame being read: its header is in, its payload (some of it) not yet.
#[derive(Debug)]
struct FrameIn {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    len: u64,
    read: u64,
}

/// The client's bytes in, messages out. Holds no buffer between messages.
#[derive(Debug)]
pub struct Reader {
    max_message: usize,
    head: [u8; 14],
    head_len: u8,
    frame: Option<FrameIn>,
    /// The data message being put together (text or binary) and its bytes so far.
    message: Option<(u8, Vec<u8>)>,
    /// The payload of the control frame being read.
    control: Vec<u8>,
    closed: bool,
}

/// How many header bytes a frame has, judging from those in so far.
fn head_needed(head: &[u8]) -> usize {
    if head.len() < 2 {
        return 2;
    }
    let extended = match head[1] & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if head[1] & 0x80 != 0 { 4 } else { 0 };
    2 + extended + mask
}

/// Whether a client may close with `code` (§7.4: the defined codes that may be sent, and the
/// ranges for libraries and applications).
fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

impl Reader {
    /// A reader refusing data messages longer than `max_message` bytes.
    pub fn new(max_message: usize) -> Reader {
        Reader { max_message, head: [0; 14], head_len: 0, frame: None, message: None, control: Vec::new(), closed: false }
    }

    /// Takes the bytes as they came off the connection, in any pieces, and appends each message
    /// they complete to `out`. After a close frame the rest is ignored; after a violation the
    /// connection must be failed with its code.
    pub fn feed(&mut self, mut data: &[u8], out: &mut VecDeque<Received>) -> Result<(), Violation> {
        while !data.is_empty() && !self.closed {
            if self.frame.is_none() {
                while (self.head_len as usize) < head_needed(&self.head[..self.head_len as usize]) {
                    let Some((&byte, rest)) = data.split_first() else { return Ok(()) };
                    self.head[self.head_len as usize] = byte;
                    self.head_len += 1;
                    data = rest;
                }
                self.start_frame()?;
                if self.frame.as_ref().is_some_and(|f| f.len == 0) {
                    self.end_frame(out)?;
                }
                continue;
            }
            let Some(frame) = self.frame.as_mut() else { continue };
            let take = (frame.len - frame.read).min(data.len() as u64) as usize;
            let (payload, rest) = data.split_at(take);
            let into = if frame.opcode >= OP_CLOSE {
                &mut self.control
            } else {
                match self.message.as_mut() {
                    Some((_, bytes)) => bytes,
                    None => return violation(PROTOCOL_ERROR, "a continuation frame with no message to continue"),
                }
            };
            into.extend(payload.iter().enumerate().map(|(i, b)| b ^ frame.mask[((frame.read + i as u64) % 4) as usize]));
            frame.read += take as u64;
            data = rest;
            if frame.read == frame.len {
                self.end_frame(out)?;
            }
        }
        Ok(())
    }

    /// A frame's header is in: check it against what may come now.
    fn start_frame(&mut self) -> Result<(), Violation> {
        let head = &self.head[..self.head_len as usize];
        self.head_len = 0;
        let fin = head[0] & 0x80 != 0;
        let opcode = head[0] & 0x0f;
        if head[0] & 0x70 != 0 {
            return violation(PROTOCOL_ERROR, "reserved bits set, and no extension was agreed");
        }
        if head[1] & 0x80 == 0 {
            return violation(PROTOCOL_ERROR, "frames from a client must be masked");
        }
        let (len, mask_at) = match head[1] & 0x7f {
            126 => (u64::from(u16::from_be_bytes([head[2], head[3]])), 4),
            127 => (u64::from_be_bytes(head[2..10].try_into().unwrap_or_default()), 10),
            short => (u64::from(short), 2),
        };
        if len >> 63 != 0 {
            return violation(PROTOCOL_ERROR, "a frame length with its top bit set");
        }
        let mask: [u8; 4] = head[mask_at..mask_at + 4].try_into().unwrap_or_default();
        match opcode {
            OP_CLOSE | OP_PING | OP_PONG => {
                if !fin {
                    return violation(PROTOCOL_ERROR, "a control frame cannot be fragmented");
                }
                if len > MAX_CONTROL as u64 {
                    return violation(PROTOCOL_ERROR, "a control frame carries at most 125 bytes");
                }
            }
            OP_TEXT | OP_BINARY | OP_CONTINUATION => {
                let so_far = match (&self.message, opcode) {
                    (None, OP_CONTINUATION) => {
                        return violation(PROTOCOL_ERROR, "a continuation frame with no message to continue");
                    }
                    (Some(_), OP_TEXT | OP_BINARY) => {
                        return violation(PROTOCOL_ERROR, "a new message before the last one was finished");
                    }
                    (Some((_, bytes)), _) => bytes.len() as u64,
                    (None, _) => 0,
                };
                if so_far + len > self.max_message as u64 {
                    return violation(TOO_BIG, "the message is too big");
                }
                // Room grows with the bytes that come, not with the length a header claims.
                if self.message.is_none() {
                    self.message = Some((opcode, Vec::with_capacity((len as usize).min(FIRST_RESERVE))));
                }
            }
            _ => return violation(PROTOCOL_ERROR, "a reserved opcode"),
        }
        self.frame = Some(FrameIn { fin, opcode, mask, len, read: 0 });
        Ok(())
    }

    /// A frame's payload is in.
    fn end_frame(&mut self, out: &mut VecDeque<Received>) -> Result<(), Violation> {
        let Some(frame) = self.frame.take() else { return Ok(()) };
        match frame.opcode {
            OP_PING => out.push_back(Received::Ping(std::mem::take(&mut self.control))),
            OP_PONG => {
                self.control = Vec::new();
                out.push_back(Received::Pong);
            }
            OP_CLOSE => {
                let payload = std::mem::take(&mut self.control);
                self.closed = true;
                let code = match payload.len() {
                    0 => None,
                    1 => return violation(PROTOCOL_ERROR, "a close frame with a one-byte body"),
                    _ => {
                        let code = u16::from_be_bytes([payload[0], payload[1]]);
                        if !close_code_allowed(code) {
                            return violation(PROTOCOL_ERROR, "a close code that may not be sent");
                        }
                        if std::str::from_utf8(&payload[2..]).is_err() {
                            return violation(INVALID_DATA, "the close reason is not UTF-8");
                        }
                        Some(code)
                    }
                };
                out.push_back(Received::Close(code));
            }
            _ if frame.fin => {
                let Some((opcode, bytes)) = self.message.take() else { return Ok(()) };
                if opcode == OP_TEXT {
                    match String::from_utf8(bytes) {
                        Ok(text) => out.push_back(Received::Text(text)),
                        Err(_) => return violation(INVALID_DATA, "a text message that is not UTF-8"),
                    }
                } else {
                    out.push_back(Received::Binary(bytes));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The header of a frame we send: final, unmasked (§5.1: a server never masks).
pub fn header(opcode: u8, len: usize) -> ([u8; 10], usize) {
    let mut head = [0u8; 10];
    head[0] = 0x80 | opcode;
    if len < 126 {
        head[1] = len as u8;
        (head, 2)
    } else if len <= u16::MAX as usize {
        head[1] = 126;
        head[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        (head, 4)
    } else {
        head[1] = 127;
        head[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        (head, 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked with `mask`.
    fn frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = vec![first];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 65535 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn read_all(bytes: &[u8], max: usize) -> (Vec<Received>, Result<(), Violation>) {
        let mut reader = Reader::new(max);
        let mut out = VecDeque::new();
        let result = reader.feed(bytes, &mut out);
        (out.into(), result)
    }

    #[test]
    fn the_rfc_examples() {
        // §5.7: a single-frame masked text message "Hello".
        let hello = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
        assert_eq!(read_all(&hello, 1024), (vec![Received::Text("Hello".into())], Ok(())));
        // §5.7: an unmasked "Hello" from a server: the header we write.
        let (head, n) = header(OP_TEXT, 5);
        assert_eq!(&head[..n], &[0x81, 0x05]);
        let (head, n) = header(OP_BINARY, 256);
        assert_eq!(&head[..n], &[0x82, 0x7e, 0x01, 0x00]);
        let (head, n) = header(OP_BINARY, 65536);
        assert_eq!(&head[..n], &[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn messages_come_whole_however_the_bytes_are_cut() {
        let mut stream = frame(0x01, "Ciao, ".as_bytes(), [1, 2, 3, 4]);
        stream.extend(frame(0x89, b"ping!", [9, 8, 7, 6])); // a ping between the fragments
        stream.extend(frame(0x80, "è l'ora".as_bytes(), [5, 6, 7, 8]));
        stream.extend(frame(0x82, &[0u8; 300], [1, 1, 1, 1]));
        stream.extend(frame(0x81, &[], [0, 0, 0, 0]));
        stream.extend(frame(0x8A, b"", [0, 0, 0, 1]));
        stream.extend(frame(0x88, &[0x03, 0xe8, b'o', b'k'], [3, 3, 3, 3]));
        stream.extend(frame(0x81, b"after the close: ignored", [3, 3, 3, 3]));
        let expected = vec![
            Received::Ping(b"ping!".to_vec()),
            Received::Text("Ciao, è l'ora".into()),
            Received::Binary(vec![0; 300]),
            Received::Text(String::new()),
            Received::Pong,
            Received::Close(Some(1000)),
        ];
        assert_eq!(read_all(&stream, 1024), (expected.clone(), Ok(())));
        for cut in [1, 2, 3, 7, 13] {
            let mut reader = Reader::new(1024);
            let mut out = VecDeque::new();
            for piece in stream.chunks(cut) {
                reader.feed(piece, &mut out).unwrap();
            }
            assert_eq!(Vec::from(out), expected, "in pieces of {cut}");
        }
    }

    #[test]
    fn protocol_violations_fail_with_their_code() {
        let mask = [1, 2, 3, 4];
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (vec![0x81, 0x05, b'H', b'e', b'l', b'l', b'o'], PROTOCOL_ERROR), // unmasked
            (frame(0xC1, b"x", mask), PROTOCOL_ERROR),                        // RSV1 without an extension
            (frame(0x83, b"x", mask), PROTOCOL_ERROR),                        // reserved data opcode
            (frame(0x8B, b"x", mask), PROTOCOL_ERROR),                        // reserved control opcode
            (frame(0x80, b"x", mask), PROTOCOL_ERROR),                        // continuation of nothing
            ([frame(0x01, b"a", mask), frame(0x81, b"b", mask)].concat(), PROTOCOL_ERROR), // new message mid-message
            (frame(0x09, b"x", mask), PROTOCOL_ERROR),                        // fragmented ping
            (frame(0x89, &[0; 126], mask), PROTOCOL_ERROR),                   // ping over 125 bytes
            (frame(0x88, &[3], mask), PROTOCOL_ERROR),                        // close with one byte
            (frame(0x88, &[0x03, 0xed], mask), PROTOCOL_ERROR),               // close code 1005
            (frame(0x88, &[0x03, 0xe7], mask), PROTOCOL_ERROR),               // close code 999
            (frame(0x88, &[0x03, 0xe8, 0xff], mask), INVALID_DATA),           // close reason not UTF-8
            (frame(0x81, &[0xce, 0xba, 0xe1, 0xbd], mask), INVALID_DATA),     // text not UTF-8
            ([frame(0x01, &[0xce], mask), frame(0x80, &[0xba], mask)].concat(), 0), // UTF-8 split over fragments is fine
            (frame(0x82, &[0; 1025], mask), TOO_BIG),
            ([frame(0x02, &[0; 1000], mask), frame(0x80, &[0; 25], mask)].concat(), TOO_BIG),
            (vec![0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4], PROTOCOL_ERROR), // 64-bit length, top bit
        ];
        for (i, (bytes, code)) in cases.into_iter().enumerate() {
            let (_, result) = read_all(&bytes, 1024);
            match code {
                0 => assert_eq!(result, Ok(()), "case {i}"),
                code => assert_eq!(result.map_err(|v| v.code), Err(code), "case {i}"),
            }
        }
        // The close codes a client may send (§7.4.1, §7.4.2).
        for code in [1000, 1001, 1003, 1007, 1011, 3000, 4999] {
            assert_eq!(read_all(&frame(0x88, &u16::to_be_bytes(code), mask), 64).0, vec![Received::Close(Some(code))]);
        }
        assert_eq!(read_all(&frame(0x88, &[], mask), 64).0, vec![Received::Close(None)]);
    }

    #[test]
    fn a_header_alone_sets_little_aside() {
        let mut reader = Reader::new(16 * 1024);
        let mut out = VecDeque::new();
        // Claims 16 KiB and sends nothing more.
        reader.feed(&[0x81, 0xfe, 0x40, 0x00, 1, 2, 3, 4], &mut out).unwrap();
        assert!(reader.message.as_ref().is_some_and(|(_, b)| b.capacity() <= FIRST_RESERVE));
    }

    #[test]
    fn a_quiet_reader_holds_no_buffer() {
        let mut reader = Reader::new(16 * 1024);
        let mut out = VecDeque::new();
        let message = frame(0x81, &[b'a'; 10_000], [1, 2, 3, 4]);
        reader.feed(&message[..5000], &mut out).unwrap();
        assert!(reader.message.as_ref().is_some_and(|(_, b)| b.len() == 5000 - 4 - 4), "a message in progress is kept");
        reader.feed(&message[5000..], &mut out).unwrap();
        reader.feed(&frame(0x89, b"hi", [1, 2, 3, 4]), &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert!(reader.message.is_none() && reader.control.capacity() == 0, "nothing kept once it is in");
    }
}
