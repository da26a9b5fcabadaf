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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub use vetrina_live::websocket::{
    GOING_AWAY, INVALID_DATA, MAX_CONTROL, NORMAL, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, POLICY_VIOLATION, PROTOCOL_ERROR,
    Reader, Received, TOO_BIG, Violation, header,
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

/// A text message that many connections send (a room's frame): made into a WebSocket frame once
/// for all of them (a server's frames are the same on every connection: not masked); its number
/// (such messages are numbered in the order they are made); and how many connections have
/// written it out.
#[derive(Clone, Debug)]
pub struct Broadcast {
    seq: u64,
    frame: Bytes,
    written: Arc<AtomicUsize>,
}

impl Broadcast {
    pub fn new(seq: u64, text: &[u8], written: Arc<AtomicUsize>) -> Broadcast {
        let (head, head_len) = header(OP_TEXT, text.len());
        let mut frame = Vec::with_capacity(head_len + text.len());
        frame.extend_from_slice(&head[..head_len]);
        frame.extend_from_slice(text);
        Broadcast { seq, frame: frame.into(), written }
    }

    /// Waiting to be written, whole.
    fn outgoing(&self) -> Outgoing {
        Outgoing { head: [0; 10], head_len: 0, payload: self.frame.clone(), written: 0, shared: Some(self.written.clone()) }
    }
}

/// What became of shared messages offered to a connection ([`Outbox::offer`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Offered {
    /// Written out (or none was for this connection).
    Sent,
    /// Queued behind what the connection has not taken yet; its task writes them.
    Queued,
    /// Dropped: the connection is too far behind, and its task is told ([`Event::Lagged`]).
    Dropped,
    /// The connection is closing or gone: offer it nothing more.
    Gone,
}

/// What a connection's task must act on ([`Outbox::event`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// Broadcast messages were dropped: the connection needs a fresh start ([`Outbox::hold_after`],
    /// then [`Socket::start`]).
    Lagged,
    /// Everything offered is written, and no more will come ([`Outbox::finish`]).
    Finished,
    /// Writing failed, or the client took nothing for 30 s.
    Broken,
}

/// A frame on its way out: header and payload, how much of the two went, and for a shared
/// message its count of connections that wrote it out.
struct Outgoing {
    head: [u8; 10],
    head_len: u8,
    payload: Bytes,
    written: usize,
    shared: Option<Arc<AtomicUsize>>,
}

impl Outgoing {
    fn new(opcode: u8, payload: Bytes, shared: Option<Arc<AtomicUsize>>) -> Outgoing {
        let (head, head_len) = header(opcode, payload.len());
        Outgoing { head, head_len: head_len as u8, payload, written: 0, shared }
    }

    fn len(&self) -> usize {
        self.head_len as usize + self.payload.len()
    }

    /// What is left to write, as two slices (one may be empty).
    fn rest(&self) -> [io::IoSlice<'_>; 2] {
        let head_len = self.head_len as usize;
        if self.written < head_len {
            [io::IoSlice::new(&self.head[self.written..head_len]), io::IoSlice::new(&self.payload)]
        } else {
            [io::IoSlice::new(&[]), io::IoSlice::new(&self.payload[self.written - head_len..])]
        }
    }

    /// Whether the frame waits untouched (it may still be dropped without cutting the stream).
    fn waits_shared(&self) -> bool {
        self.shared.is_some() && self.written == 0
    }
}

/// Frames put together in one write (a writer offers at most this many at once).
pub const WRITE_AT_ONCE: usize = 16;

/// Writes `slices` in one system call: a plain write for one (on a socket, `send`: cheaper in the
/// kernel than `writev`, and most writes are one frame), a vectored one for several.
fn write_slices<S: AsyncWrite + Unpin>(io: Pin<&mut S>, cx: &mut Context<'_>, slices: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
    match slices {
        [one] => io.poll_write(cx, one),
        _ => io.poll_write_vectored(cx, slices),
    }
}

/// A connection's way out, shared by its own task (answers, pongs, the close) and whoever sends
/// it shared messages: frames are written whole, one after another, in the order they came.
struct Wire<S> {
    io: S,
    queue: VecDeque<Outgoing>,
    /// Broadcast messages numbered at or below this are not for this connection (what it was sent
    /// first holds them).
    after: u64,
    /// Broadcast messages wait in the queue until the connection's first messages are in
    /// ([`Socket::start`]).
    held: bool,
    /// Broadcast messages were dropped; more are dropped until [`Outbox::hold_after`].
    lagged: bool,
    /// No more shared messages will come.
    finished: bool,
    /// A close frame is on its way: nothing shared follows it.
    closing: bool,
    /// Writing failed: nothing more is written.
    broken: bool,
    /// Since when the queue waits for a client that takes nothing, and the timer that ends the
    /// wait (made only for a connection that stalls).
    stalled_since: Option<tokio::time::Instant>,
    stall_timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The task's own frames queued so far, and written out so far.
    own: (u64, u64),
    /// The connection's task, waiting in [`Outbox::event`].
    waker: Option<Waker>,
}

impl<S: AsyncWrite + Unpin> Wire<S> {
    /// Takes `n` written bytes off the front of the queue.
    fn advance(&mut self, mut n: usize) {
        if n > 0 {
            self.stalled_since = None;
        }
        while n > 0 {
            let Some(front) = self.queue.front_mut() else { break };
            let left = front.len() - front.written;
            if n < left {
                front.written += n;
                break;
            }
            n -= left;
            if let Some(front) = self.queue.pop_front() {
                match front.shared {
                    Some(count) => {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    None => self.own.1 += 1,
                }
            }
        }
        if self.queue.is_empty() {
            self.stall_timer = None;
            if self.queue.capacity() > WRITE_AT_ONCE {
                self.queue = VecDeque::new();
            }
        }
    }

    /// Writes the queue out, several frames a write.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            // Held shared messages wait for the connection's start.
            let ready =
                if self.held { self.queue.iter().position(Outgoing::waits_shared).unwrap_or(self.queue.len()) } else { self.queue.len() };
            if ready == 0 {
                break;
            }
            let mut slices = [io::IoSlice::new(&[]); 2 * WRITE_AT_ONCE];
            let mut k = 0;
            for out in self.queue.iter().take(ready.min(WRITE_AT_ONCE)) {
                for slice in out.rest() {
                    if !slice.is_empty() {
                        slices[k] = slice;
                        k += 1;
                    }
                }
            }
            let written = match write_slices(Pin::new(&mut self.io), cx, &slices[..k]) {
                Poll::Ready(Ok(0)) => Err(io::ErrorKind::WriteZero.into()),
                Poll::Ready(written) => written,
                Poll::Pending => {
                    self.stalled_since.get_or_insert_with(tokio::time::Instant::now);
                    return Poll::Pending;
                }
            };
            match written {
                Ok(n) => self.advance(n),
                Err(e) => {
                    self.broken = true;
                    return Poll::Ready(Err(e));
                }
            }
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Queues one of the task's own frames: before shared messages held for the connection's
    /// start, after everything else. Its ticket: done once `own.1` reaches it.
    fn push_own(&mut self, out: Outgoing) -> u64 {
        let at = if self.held { self.queue.iter().position(Outgoing::waits_shared).unwrap_or(self.queue.len()) } else { self.queue.len() };
        self.queue.insert(at, out);
        self.own.0 += 1;
        self.own.0
    }

    fn wake(&mut self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// The writing side of a connection, for whoever sends it shared messages ([`Socket::outbox`]).
pub struct Outbox<S = TokioIo<hyper::upgrade::Upgraded>>(Arc<Mutex<Wire<S>>>);

impl<S> Clone for Outbox<S> {
    fn clone(&self) -> Self {
        Outbox(self.0.clone())
    }
}

impl<S: AsyncWrite + Unpin> Outbox<S> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Wire<S>> {
        // Nothing panics under this lock; if something did, the wire is still whole frames.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Offers shared messages, in the order they were made: written at once when nothing waits
    /// and the socket takes them (no task is woken for it), otherwise queued for the connection's
    /// task, or dropped when more than `limit` would wait.
    pub fn offer(&self, messages: &[Broadcast], limit: usize) -> Offered {
        let mut wire = self.lock();
        if wire.broken || wire.closing {
            return Offered::Gone;
        }
        if wire.lagged {
            return Offered::Dropped;
        }
        let after = wire.after;
        let fresh = &messages[messages.partition_point(|m| m.seq <= after)..];
        if fresh.is_empty() {
            return Offered::Sent;
        }
        if wire.held || !wire.queue.is_empty() {
            let stalled = wire.stalled_since.is_some_and(|since| since.elapsed() > WRITE_WITHIN);
            let waiting = wire.queue.iter().filter(|o| o.waits_shared()).count();
            if stalled {
                wire.broken = true;
                wire.wake();
                return Offered::Gone;
            }
            if waiting + fresh.len() > limit {
                wire.lagged = true;
                wire.queue.retain(|o| !o.waits_shared());
                wire.wake();
                return Offered::Dropped;
            }
            wire.queue.extend(fresh.iter().map(Broadcast::outgoing));
            return Offered::Queued;
        }
        // Straight to the socket, as one write. Not waiting: "not now" is the task's to wait for.
        // The no-op waker never takes the place of one the task waits with: the task waits for
        // the socket only while its queue holds something, and then nothing comes here. That
        // holds while flushing the transport finishes at once (TCP); a buffering layer under the
        // upgrade (TLS in the process) would need this to write only after a finished flush.
        let mut slices = [io::IoSlice::new(&[]); WRITE_AT_ONCE];
        for (slice, m) in slices.iter_mut().zip(fresh) {
            *slice = io::IoSlice::new(&m.frame);
        }
        let mut cx = Context::from_waker(Waker::noop());
        let written = match write_slices(Pin::new(&mut wire.io), &mut cx, &slices[..fresh.len().min(WRITE_AT_ONCE)]) {
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                wire.broken = true;
                wire.wake();
                return Offered::Gone;
            }
            Poll::Ready(Ok(n)) => n,
            Poll::Pending => 0,
        };
        let mut left = written;
        let mut unwritten = Vec::new();
        for m in fresh {
            let mut out = m.outgoing();
            if left >= out.len() {
                left -= out.len();
                m.written.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            out.written = left;
            left = 0;
            unwritten.push(out);
        }
        if unwritten.is_empty() {
            return Offered::Sent;
        }
        wire.queue.extend(unwritten);
        wire.stalled_since = Some(tokio::time::Instant::now());
        wire.wake();
        Offered::Queued
    }

    /// From now on, shared messages numbered above `seq` wait for the connection's first
    /// messages ([`Socket::start`]); those at or below are not for it. Ends a lag.
    pub fn hold_after(&self, seq: u64) {
        let mut wire = self.lock();
        wire.after = seq;
        wire.held = true;
        wire.lagged = false;
        wire.queue.retain(|o| !o.waits_shared());
    }

    /// No more shared messages will come: the task learns it once those queued are out.
    pub fn finish(&self) {
        let mut wire = self.lock();
        wire.finished = true;
        wire.wake();
    }

    /// Writes what waits, and answers what the connection's task must act on. Cancel-safe.
    pub async fn event(&self) -> Event {
        poll_fn(|cx| {
            let mut wire = self.lock();
            if wire.broken {
                return Poll::Ready(Event::Broken);
            }
            if wire.lagged {
                return Poll::Ready(Event::Lagged);
            }
            if !wire.held {
                match wire.poll_drain(cx) {
                    Poll::Ready(Err(_)) => return Poll::Ready(Event::Broken),
                    Poll::Ready(Ok(())) if wire.finished => return Poll::Ready(Event::Finished),
                    Poll::Ready(Ok(())) | Poll::Pending => {}
                }
            }
            // A client that takes nothing for 30 s is gone, shared messages coming or not.
            if let Some(since) = wire.stalled_since {
                let due = since + WRITE_WITHIN;
                let timer = wire.stall_timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                if timer.deadline() != due {
                    timer.as_mut().reset(due);
                }
                if timer.as_mut().poll(cx).is_ready() {
                    wire.broken = true;
                    return Poll::Ready(Event::Broken);
                }
            }
            if !wire.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                wire.waker = Some(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

/// A server-side WebSocket over an upgraded connection.
pub struct Socket<S = TokioIo<hyper::upgrade::Upgraded>> {
    wire: Outbox<S>,
    reader: Reader,
    received: VecDeque<Received>,
    failed: Option<Violation>,
    gone: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Socket<S> {
    /// A socket that writes shared messages only once it has [`start`](Socket::start)ed.
    pub fn new(io: S, max_message: usize) -> Socket<S> {
        let wire = Wire {
            io,
            queue: VecDeque::new(),
            after: 0,
            held: true,
            lagged: false,
            finished: false,
            closing: false,
            broken: false,
            stalled_since: None,
            stall_timer: None,
            own: (0, 0),
            waker: None,
        };
        Socket {
            wire: Outbox(Arc::new(Mutex::new(wire))),
            reader: Reader::new(max_message),
            received: VecDeque::new(),
            failed: None,
            gone: false,
        }
    }

    /// The writing side, for whoever sends this connection shared messages.
    pub fn outbox(&self) -> Outbox<S> {
        self.wire.clone()
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
            let read = Pin::new(&mut self.wire.lock().io).poll_read(cx, &mut buf);
            match ready!(read) {
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
        let ticket = self.wire.lock().push_own(Outgoing::new(opcode, payload, None));
        self.written(ticket).await
    }

    pub async fn send_text(&mut self, text: Bytes) -> io::Result<()> {
        self.send(OP_TEXT, text).await
    }

    /// Sends the connection's first text messages (a snapshot, or the frames a reconnecting
    /// client missed), then the shared messages held for it.
    pub async fn start(&mut self, first: &[Bytes]) -> io::Result<()> {
        let ticket = {
            let mut wire = self.wire.lock();
            let mut ticket = wire.own.0;
            for text in first {
                ticket = wire.push_own(Outgoing::new(OP_TEXT, text.clone(), None));
            }
            wire.held = false;
            ticket
        };
        self.written(ticket).await
    }

    /// Writes until the task's own frame `ticket` is out. A client that takes nothing for 30 s
    /// is gone.
    async fn written(&mut self, ticket: u64) -> io::Result<()> {
        let sent = poll_fn(|cx| {
            let mut wire = self.wire.lock();
            if wire.own.1 >= ticket {
                return Poll::Ready(Ok(()));
            }
            if wire.broken {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            ready!(wire.poll_drain(cx))?;
            Poll::Ready(Ok(()))
        });
        match tokio::time::timeout(WRITE_WITHIN, sent).await {
            Ok(sent) => sent,
            Err(_) => {
                self.wire.lock().broken = true;
                Err(io::Error::new(io::ErrorKind::TimedOut, "the client takes nothing"))
            }
        }
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
        {
            // Nothing shared goes after the close frame, and nothing held will go at all.
            let mut wire = self.wire.lock();
            wire.closing = true;
            wire.held = false;
            wire.queue.retain(|o| !o.waits_shared());
        }
        if self.send(OP_CLOSE, payload.into()).await.is_ok() {
            let _ = tokio::time::timeout(WRITE_WITHIN, poll_fn(|cx| Pin::new(&mut self.wire.lock().io).poll_shutdown(cx))).await;
            // Read what the client still sends until it closes too (at most 2 s, 64 KiB):
            // closing with unread bytes would reset the connection, and the client would
            // never see the close frame and its code.
            let _ = tokio::time::timeout(LINGER, async {
                let mut discarded = 0;
                while discarded < 64 * 1024 {
                    match poll_fn(|cx| {
                        let mut chunk = [0u8; 1024];
                        let mut buf = ReadBuf::new(&mut chunk);
                        Pin::new(&mut self.wire.lock().io).poll_read(cx, &mut buf).map_ok(|()| buf.filled().len())
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

    /// Server frames in `bytes` (unmasked, short): their opcodes and payloads.
    fn frames_in(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut frames = Vec::new();
        while !bytes.is_empty() {
            let (len, at) = match bytes[1] {
                126 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
                n => (n as usize, 2),
            };
            frames.push((bytes[0] & 0x0f, bytes[at..at + len].to_vec()));
            bytes = &bytes[at + len..];
        }
        frames
    }

    fn shared(seq: u64, text: &str, written: &Arc<AtomicUsize>) -> Broadcast {
        Broadcast::new(seq, text.as_bytes(), written.clone())
    }

    #[tokio::test]
    async fn a_socket_reads_and_writes_frames() {
        let (client, server) = tokio::io::duplex(64);
        let mut socket = Socket::new(server, 1024);
        let outbox = socket.outbox();
        let (mut client_read, mut client_write) = tokio::io::split(client);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            client_write.write_all(&frame(0x81, b"hello", [7, 7, 7, 7])).await.unwrap();
            client_write.write_all(&frame(0x88, &[0x03, 0xe9], [1, 1, 1, 1])).await.unwrap();
        });
        assert_eq!(socket.recv().await, Ok(Received::Text("hello".into())));
        // Broadcast messages offered before the start wait for the first message; those it holds
        // (numbered up to 1) are not sent at all.
        let written = Arc::new(AtomicUsize::new(0));
        outbox.hold_after(1);
        assert_eq!(outbox.offer(&[shared(1, "old", &written), shared(2, "a", &written)], 64), Offered::Queued);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut client_read, &mut got).await.unwrap();
            got
        });
        // The duplex holds 64 bytes: the first message goes out in pieces while the client reads.
        let first = Bytes::from(vec![b'x'; 200]);
        socket.start(std::slice::from_ref(&first)).await.unwrap();
        socket.send_text(Bytes::from_static(b"bc")).await.unwrap();
        assert_eq!(written.load(Ordering::Relaxed), 1, "the held message went out before the answer");
        assert_eq!(socket.recv().await, Ok(Received::Close(Some(1001))));
        socket.close(Some(1001), "").await;
        assert_eq!(outbox.offer(&[shared(3, "late", &written)], 64), Offered::Gone, "nothing after the close");
        writer.await.unwrap();
        drop((socket, outbox));
        let got = frames_in(&reader.await.unwrap());
        let expected: Vec<(u8, Vec<u8>)> =
            vec![(OP_TEXT, first.to_vec()), (OP_TEXT, b"a".to_vec()), (OP_TEXT, b"bc".to_vec()), (OP_CLOSE, vec![0x03, 0xe9])];
        assert_eq!(got, expected, "whole frames in order; the client's code echoed");
    }

    #[tokio::test]
    async fn shared_messages_go_straight_out_or_wait_and_a_slow_client_is_dropped_behind() {
        let (client, server) = tokio::io::duplex(32);
        let mut socket = Socket::new(server, 1024);
        let outbox = socket.outbox();
        socket.start(&[]).await.unwrap();
        let written = Arc::new(AtomicUsize::new(0));
        let text = "y".repeat(20);
        assert_eq!(outbox.offer(&[shared(1, &text, &written)], 3), Offered::Sent, "written without a task");
        assert_eq!(written.load(Ordering::Relaxed), 1);
        // Nobody reads: the second goes in part, then they wait, until more than 3 would.
        assert_eq!(outbox.offer(&[shared(2, &text, &written)], 3), Offered::Queued);
        assert_eq!(outbox.offer(&[shared(3, &text, &written), shared(4, &text, &written)], 3), Offered::Queued);
        assert_eq!(outbox.offer(&[shared(5, &text, &written)], 3), Offered::Queued);
        assert_eq!(outbox.offer(&[shared(6, &text, &written)], 3), Offered::Dropped);
        assert_eq!(outbox.offer(&[shared(7, &text, &written)], 3), Offered::Dropped, "dropped until a fresh start");
        assert_eq!(outbox.event().await, Event::Lagged);
        // A fresh start after 7: the frame cut off is finished first, then the snapshot, then 8.
        outbox.hold_after(7);
        assert_eq!(outbox.offer(&[shared(7, &text, &written), shared(8, "z", &written)], 3), Offered::Queued);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut tokio::io::BufReader::new(client), &mut got).await.unwrap();
            got
        });
        socket.start(&[Bytes::from_static(b"snapshot")]).await.unwrap();
        outbox.finish();
        assert_eq!(outbox.event().await, Event::Finished, "once what waits is out");
        assert_eq!(written.load(Ordering::Relaxed), 3, "frames 1, 2 and 8 written out");
        drop((socket, outbox));
        let got = frames_in(&reader.await.unwrap());
        let texts: Vec<String> = got.into_iter().map(|(_, p)| String::from_utf8(p).unwrap()).collect();
        assert_eq!(texts, [text.as_str(), &text, "snapshot", "z"]);
    }
}
