//! A light WebSocket listener for the room's load: it opens the connection (RFC 6455 section 4.1),
//! then reads every byte the server sends and counts the messages from their frame headers alone,
//! without unmasking, validating or copying payloads. For the server it is a whole client (the
//! same handshake, the same frames written to it, a close at the end); for the load generator it
//! costs a read per wake-up, so the listeners' own work does not take the cores the server is
//! measured on. A sample of listeners still parses every message (`room.rs`) to time delivery.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens `ws://host:port/path`: the connection and the bytes that came after the handshake's
/// response (the first frames may share its read).
pub async fn connect(url: &str, nonce: u64) -> io::Result<(TcpStream, Vec<u8>)> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{url}: {what}"));
    let rest = url.strip_prefix("ws://").ok_or_else(|| bad("only ws:// URLs"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = TcpStream::connect(authority).await?;
    stream.set_nodelay(true)?;
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&nonce.to_le_bytes());
    key[8..].copy_from_slice(&nonce.rotate_left(29).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        base64(&key)
    );
    stream.write_all(request.as_bytes()).await?;
    let mut got = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed during the handshake"));
        }
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]);
            if !head.starts_with("HTTP/1.1 101") {
                return Err(io::Error::other(format!("not upgraded: {}", head.lines().next().unwrap_or(""))));
            }
            return Ok((stream, got.split_off(end + 4)));
        }
        if got.len() > 16 * 1024 {
            return Err(io::Error::other("the handshake's response is too long"));
        }
    }
}

/// A masked close frame with code 1000 (clients mask every frame, section 5.3).
pub const CLOSE: [u8; 8] = [0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8];

/// Counts the messages in what a server sends, from the frame headers (servers do not mask).
#[derive(Debug, Default)]
pub struct Counter {
    head: [u8; 10],
    head_len: usize,
    /// Payload bytes of the current frame still to skip.
    skip: u64,
    /// The server sent a close frame.
    pub closed: bool,
}

impl Counter {
    /// Takes bytes as they came, in any pieces: the data messages they complete (a final text,
    /// binary or continuation frame each).
    pub fn feed(&mut self, mut data: &[u8]) -> u64 {
        let mut messages = 0;
        while !data.is_empty() {
            if self.skip > 0 {
                let take = self.skip.min(data.len() as u64);
                self.skip -= take;
                data = &data[take as usize..];
                continue;
            }
            let needed = match self.head_len {
                0 | 1 => 2,
                _ => {
                    2 + match self.head[1] & 0x7f {
                        126 => 2,
                        127 => 8,
                        _ => 0,
                    }
                }
            };
            if self.head_len < needed {
                let take = (needed - self.head_len).min(data.len());
                self.head[self.head_len..self.head_len + take].copy_from_slice(&data[..take]);
                self.head_len += take;
                data = &data[take..];
                if self.head_len < needed || needed == 2 && self.head[1] & 0x7f >= 126 {
                    continue;
                }
            }
            let len = match self.head[1] & 0x7f {
                126 => u64::from(u16::from_be_bytes([self.head[2], self.head[3]])),
                127 => u64::from_be_bytes(self.head[2..10].try_into().expect("eight bytes")),
                n => u64::from(n),
            };
            let (fin, opcode) = (self.head[0] & 0x80 != 0, self.head[0] & 0x0f);
            if fin && opcode < 8 {
                messages += 1;
            }
            if opcode == 8 {
                self.closed = true;
            }
            self.head_len = 0;
            self.skip = len;
        }
        messages
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![u8::from(fin) << 7 | opcode];
        match payload.len() {
            n if n < 126 => f.push(n as u8),
            n if n <= 0xffff => {
                f.push(126);
                f.extend((n as u16).to_be_bytes());
            }
            n => {
                f.push(127);
                f.extend((n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn messages_are_counted_however_the_bytes_are_cut() {
        let mut stream = frame(true, 1, b"{\"seq\":1}");
        stream.extend(frame(true, 1, &vec![b'x'; 300]));
        stream.extend(frame(false, 1, b"part one "));
        stream.extend(frame(true, 9, b"ping"));
        stream.extend(frame(true, 0, b"part two"));
        stream.extend(frame(true, 2, &vec![0; 70_000]));
        stream.extend(frame(true, 8, &[0x03, 0xe8]));
        for cut in [1, 2, 3, 7, 100, 4096, stream.len()] {
            let mut counter = Counter::default();
            let n: u64 = stream.chunks(cut).map(|piece| counter.feed(piece)).sum();
            assert_eq!(n, 4, "cut in pieces of {cut}: three whole messages and one in two frames");
            assert!(counter.closed);
        }
    }

    #[test]
    fn the_handshake_key_is_base64_of_sixteen_bytes() {
        assert_eq!(base64(b"the sample nonce"), "dGhlIHNhbXBsZSBub25jZQ==", "RFC 6455 section 1.3");
        assert_eq!(base64(b"ab"), "YWI=");
    }
}
