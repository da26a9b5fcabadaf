//! WebSocket (RFC 6455), the server's side, holding nothing for a connection while it is quiet.
//!
//! A live room keeps tens of thousands of connections open that mostly listen. A general-purpose
//! WebSocket library keeps a read buffer per connection and a write buffer as large as the largest
//! message ever sent (the room's snapshot, with its recent chat, goes to every joiner): kilobytes
//! per connection, for nothing. Here a quiet connection holds no buffer at all:
//! - reading goes through a buffer on the stack of the poll that reads; only the part of a
//!   message still incomplete at the end of a read is kept (on the heap, until it completes);
//! - writing sends the frame's header and the shared payload (`Bytes`, serialised once for every
//!   connection) in one vectored write, with no copy.
//!
//! The protocol core, without I/O, is `vetrina_live::websocket` ([`Reader`]: bytes in, messages or
//! the close code out). [`Socket`] drives it over the upgraded connection; [`Upgrade`] is the
//! opening handshake.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

pub use vetrina_live::websocket::{
    GOING_AWAY, INVALID_DATA, MAX_CONTROL, NORMAL, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, PROTOCOL_ERROR, Reader, Received,
    TOO_BIG, Violation, header,
};

use crate::error::ApiError;

/// Bytes read from the socket at once, on the stack of the poll.
const READ_CHUNK: usize = 4096;
/// How long a closed connection waits for the client to close its side.
const LINGER: Duration = Duration::from_secs(2);
/// How long one frame may take to go out before the client counts as gone.
const WRITE_WITHIN: Duration = Duration::from_secs(30);

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key` (§4.2.2).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// Why the connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The connection closed or failed under us.
    Gone,
    /// The client broke the protocol.
    Violation(Violation),
}

/// A frame on its way out: header and payload, and how much of the two went.
struct Outgoing {
    head: [u8; 10],
    head_len: u8,
    payload: Bytes,
    written: usize,
}

/// A server-side WebSocket over an upgraded connection.
pub struct Socket<S = TokioIo<hyper::upgrade::Upgraded>> {
    io: S,
    reader: Reader,
    received: VecDeque<Received>,
    failed: Option<Violation>,
    gone: bool,
    out: Option<Outgoing>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Socket<S> {
    pub fn new(io: S, max_message: usize) -> Socket<S> {
        Socket { io, reader: Reader::new(max_message), received: VecDeque::new(), failed: None, gone: false, out: None }
    }

    /// The client's next message. Cancel-safe: what was read stays for the next call.
    pub async fn recv(&mut self) -> Result<Received, Ended> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Received, Ended>> {
        loop {
            if let Some(message) = self.received.pop_front() {
                if self.received.is_empty() && self.received.capacity() > 4 {
                    self.received = VecDeque::new();
                }
                return Poll::Ready(Ok(message));
            }
            if let Some(v) = self.failed.take() {
                self.gone = true;
                return Poll::Ready(Err(Ended::Violation(v)));
            }
            if self.gone {
                return Poll::Ready(Err(Ended::Gone));
            }
            let mut chunk = [0u8; READ_CHUNK];
            let mut buf = ReadBuf::new(&mut chunk);
            match ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf)) {
                Ok(()) if !buf.filled().is_empty() => {
                    if let Err(v) = self.reader.feed(buf.filled(), &mut self.received) {
                        self.failed = Some(v);
                    }
                }
                _ => self.gone = true,
            }
        }
    }

    /// Sends one message as one frame.
    pub async fn send(&mut self, opcode: u8, payload: Bytes) -> io::Result<()> {
        let (head, head_len) = header(opcode, payload.len());
        self.write(Outgoing { head, head_len: head_len as u8, payload, written: 0 }).await
    }

    /// Sends bytes that are whole frames already.
    async fn send_raw(&mut self, frames: Bytes) -> io::Result<()> {
        self.write(Outgoing { head: [0; 10], head_len: 0, payload: frames, written: 0 }).await
    }

    /// Writes `out` after what is left of the last one. Cancel-safe: a frame cut off is finished
    /// by the next write, so the stream stays whole. A client that takes more than 30 s to take
    /// one write is gone.
    async fn write(&mut self, out: Outgoing) -> io::Result<()> {
        let sent = async {
            poll_fn(|cx| self.poll_out(cx)).await?;
            self.out = Some(out);
            poll_fn(|cx| self.poll_out(cx)).await
        };
        match tokio::time::timeout(WRITE_WITHIN, sent).await {
            Ok(sent) => sent,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "the client takes nothing")),
        }
    }

    pub async fn send_text(&mut self, text: Bytes) -> io::Result<()> {
        self.send(OP_TEXT, text).await
    }

    /// Sends text messages, one frame each, in one write: one system call where each message
    /// alone would take one (a connection that waited its turn while several piled up).
    pub async fn send_texts(&mut self, texts: &[Bytes]) -> io::Result<()> {
        let mut frames = Vec::with_capacity(texts.iter().map(|t| t.len() + 10).sum());
        for text in texts {
            let (head, head_len) = header(OP_TEXT, text.len());
            frames.extend_from_slice(&head[..head_len]);
            frames.extend_from_slice(text);
        }
        self.send_raw(Bytes::from(frames)).await
    }

    /// Writes what is left of the frame on its way out.
    fn poll_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(out) = self.out.as_mut() {
            let head_len = out.head_len as usize;
            if out.written == head_len + out.payload.len() {
                self.out = None;
                break;
            }
            let written = if out.written < head_len {
                let parts = [io::IoSlice::new(&out.head[out.written..head_len]), io::IoSlice::new(&out.payload)];
                ready!(Pin::new(&mut self.io).poll_write_vectored(cx, &parts))?
            } else {
                ready!(Pin::new(&mut self.io).poll_write(cx, &out.payload[out.written - head_len..]))?
            };
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            out.written += written;
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Ends the connection with a close frame: `code` (and `reason`), or an empty one when the
    /// client closed without a code (§5.5.1: echo the client's code).
    pub async fn close(&mut self, code: Option<u16>, reason: &str) {
        let mut payload = Vec::new();
        if let Some(code) = code {
            payload.extend_from_slice(&code.to_be_bytes());
            let mut end = reason.len().min(MAX_CONTROL - 2);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            payload.extend_from_slice(&reason.as_bytes()[..end]);
        }
        if self.send(OP_CLOSE, payload.into()).await.is_ok() {
            let _ = tokio::time::timeout(WRITE_WITHIN, self.io.shutdown()).await;
            // Read what the client still sends until it closes too (at most 2 s, 64 KiB):
            // closing with unread bytes would reset the connection, and the client would
            // never see the close frame and its code.
            let _ = tokio::time::timeout(LINGER, async {
                let mut discarded = 0;
                while discarded < 64 * 1024 {
                    match poll_fn(|cx| {
                        let mut chunk = [0u8; 1024];
                        let mut buf = ReadBuf::new(&mut chunk);
                        Pin::new(&mut self.io).poll_read(cx, &mut buf).map_ok(|()| buf.filled().len())
                    })
                    .await
                    {
                        Ok(n) if n > 0 => discarded += n,
                        _ => break,
                    }
                }
            })
            .await;
        }
    }
}

/// The opening handshake of a WebSocket over HTTP/1.1 (§4.2.1), as an extractor.
pub struct Upgrade {
    on_upgrade: hyper::upgrade::OnUpgrade,
    accept: HeaderValue,
}

/// Why a request cannot become a WebSocket.
#[derive(Debug)]
pub enum Refused {
    /// Not a WebSocket handshake at all (a plain GET, say): `426 Upgrade Required`.
    NotWebSocket(&'static str),
    /// Another version of the protocol: `426` naming the one spoken (§4.2.2).
    Version,
    /// A WebSocket handshake that is malformed (no version, a bad key): `400` (§4.2.1).
    Malformed(&'static str),
}

fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case(token))
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Upgrade, Refused> {
        if parts.method != Method::GET {
            return Err(Refused::NotWebSocket("a WebSocket opens with a GET"));
        }
        if !has_token(&parts.headers, header::UPGRADE, "websocket") {
            return Err(Refused::NotWebSocket("no `Upgrade: websocket` header"));
        }
        if !has_token(&parts.headers, header::CONNECTION, "upgrade") {
            return Err(Refused::NotWebSocket("no `Connection: upgrade` header"));
        }
        match parts.headers.get(header::SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) {
            Some(b"13") => {}
            Some(_) => return Err(Refused::Version),
            None => return Err(Refused::Malformed("no Sec-WebSocket-Version header")),
        }
        const BAD_KEY: Refused = Refused::Malformed("Sec-WebSocket-Key must be 16 bytes in base64");
        let key = parts.headers.get(header::SEC_WEBSOCKET_KEY).ok_or(BAD_KEY)?;
        // Lenient about the unused bits of the last character, as other servers are.
        let base64 = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        );
        if base64.decode(key.as_bytes().trim_ascii()).map(|n| n.len()) != Ok(16) {
            return Err(BAD_KEY);
        }
        let accept = HeaderValue::from_str(&accept_key(key.as_bytes().trim_ascii())).map_err(|_| BAD_KEY)?;
        let on_upgrade =
            parts.extensions.remove::<hyper::upgrade::OnUpgrade>().ok_or(Refused::NotWebSocket("this connection cannot be upgraded"))?;
        Ok(Upgrade { on_upgrade, accept })
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let (status, detail) = match self {
            Refused::NotWebSocket(why) => (StatusCode::UPGRADE_REQUIRED, why),
            Refused::Version => (StatusCode::UPGRADE_REQUIRED, "this server speaks WebSocket version 13 only"),
            Refused::Malformed(why) => (StatusCode::BAD_REQUEST, why),
        };
        let mut response =
            ApiError::new(status, format!("this address is a WebSocket (protocol v1, docs/live.md): {detail}")).into_response();
        if status == StatusCode::UPGRADE_REQUIRED {
            let headers = response.headers_mut();
            headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            headers.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        }
        response
    }
}

impl Upgrade {
    /// Answers `101 Switching Protocols` and, once the connection is switched, runs `serve` on
    /// it (a task of its own), with data messages of at most `max_message` bytes.
    pub fn on_upgrade<F, Fut>(self, max_message: usize, serve: F) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            if let Ok(upgraded) = on_upgrade.await {
                serve(Socket::new(TokioIo::new(upgraded), max_message)).await;
            }
        });
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, self.accept);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_key_of_the_rfc_example() {
        // §1.3: the accept key for the example nonce.
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    /// A client frame: masked with `mask`.
    fn frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        assert!(payload.len() < 126);
        let mut out = vec![first, 0x80 | payload.len() as u8];
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    #[tokio::test]
    async fn a_socket_reads_and_writes_frames() {
        let (client, server) = tokio::io::duplex(64);
        let mut socket = Socket::new(server, 1024);
        let (mut client_read, mut client_write) = tokio::io::split(client);
        let writer = tokio::spawn(async move {
            client_write.write_all(&frame(0x81, b"hello", [7, 7, 7, 7])).await.unwrap();
            client_write.write_all(&frame(0x88, &[0x03, 0xe9], [1, 1, 1, 1])).await.unwrap();
        });
        assert_eq!(socket.recv().await, Ok(Received::Text("hello".into())));
        let payload = Bytes::from(vec![b'x'; 200]);
        // The duplex holds 64 bytes: the frame goes out in pieces while the client reads.
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut client_read, &mut got).await.unwrap();
            got
        });
        socket.send_text(payload.clone()).await.unwrap();
        socket.send_texts(&[Bytes::from_static(b"a"), Bytes::from_static(b"bc")]).await.unwrap();
        assert_eq!(socket.recv().await, Ok(Received::Close(Some(1001))));
        socket.close(Some(1001), "").await;
        writer.await.unwrap();
        drop(socket);
        let got = reader.await.unwrap();
        assert_eq!(&got[..4], &[0x81, 0x7e, 0x00, 200]);
        assert_eq!(&got[4..204], &payload[..]);
        assert_eq!(&got[204..211], &[0x81, 1, b'a', 0x81, 2, b'b', b'c'], "two frames in one write");
        assert_eq!(&got[211..], &[0x88, 0x02, 0x03, 0xe9], "the client's code echoed");
    }
}
