//! Accepting connections: a new connection has a limited time to send its first request's
//! headers, so clients that connect and then send nothing, or dribble a request a byte at a time
//! ("slowloris"), cannot hold the server's sockets and file descriptors forever. Once the headers
//! are in, no deadline applies: a large upload over a slow link, a long download, a WebSocket
//! that only listens, all take the time they need, as long as bytes move: a connection on which
//! nothing moved either way for `idle` (a keep-alive connection no request comes on, a client
//! that stopped reading or sending) is closed. A connection upgraded to a WebSocket (a `101`
//! answer went out) is exempt: a viewer of a quiet room only listens.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// Connections the kernel may hold for us until we accept them (it caps this at
/// `net.core.somaxconn`). When a show starts, its viewers arrive together: with the usual 128,
/// a node busy with its room dropped the rest, and their connections waited a second, then three,
/// then seven for the retried handshake.
const BACKLOG: u32 = 4096;

/// Listens on `addr` with room for a crowd arriving at once.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    // As the standard library's listeners do: a restarted node binds while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// How a peer that vanished (a phone that lost its signal, a laptop closed mid-show) is found
/// on a connection nothing is sent on: the kernel probes after a minute of silence, every ten
/// seconds, and gives up after three unanswered probes. A WebSocket of a quiet room only listens,
/// so without probes its socket and its place in the room would stay until the show ends.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_PROBES: u32 = 3;
/// How long data sent may stay unacknowledged before the kernel gives up on the connection:
/// probes are not sent while data is in flight, and retransmissions alone last some fifteen
/// minutes.
const UNACKNOWLEDGED_FOR: Duration = Duration::from_secs(90);

/// Sets up an accepted connection: no Nagle delay (frames and answers go out at once) and the
/// dead-peer checks above. A socket that refuses an option still serves.
fn tune(io: &TcpStream) {
    let _ = io.set_nodelay(true);
    let socket = socket2::SockRef::from(io);
    let keepalive = socket2::TcpKeepalive::new().with_time(KEEPALIVE_IDLE).with_interval(KEEPALIVE_INTERVAL).with_retries(KEEPALIVE_PROBES);
    let _ = socket.set_tcp_keepalive(&keepalive);
    #[cfg(target_os = "linux")]
    let _ = socket.set_tcp_user_timeout(Some(UNACKNOWLEDGED_FOR));
}

/// A TCP listener whose connections must send their first request's headers within `within`.
pub struct Listener {
    inner: TcpListener,
    within: Duration,
    idle: Duration,
}

impl Listener {
    pub fn new(inner: TcpListener, within: Duration, idle: Duration) -> Listener {
        Listener { inner, within, idle }
    }
}

impl axum::serve::Listener for Listener {
    type Io = Guarded;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Guarded, SocketAddr) {
        loop {
            match self.inner.accept().await {
                Ok((io, addr)) => {
                    tune(&io);
                    let guarded = Guarded {
                        io,
                        deadline: Some(Box::pin(tokio::time::sleep(self.within))),
                        tail: [0; 3],
                        idle: self.idle,
                        last_moved: Instant::now(),
                        idle_timer: Some(Box::pin(tokio::time::sleep(self.idle))),
                    };
                    return (guarded, addr);
                }
                // A connection that failed before it was accepted is the peer's business; out of
                // file descriptors (or the like) is ours: wait a little rather than spin.
                Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset) => {}
                Err(e) => {
                    tracing::error!(error = %e, "cannot accept connections");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// The peer's address of a connection, for `ConnectInfo`.
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, Listener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, Listener>) -> PeerAddr {
        PeerAddr(*stream.remote_addr())
    }
}

/// A connection that must finish its first request's headers before its deadline.
pub struct Guarded {
    io: TcpStream,
    /// Gone once the first request's headers are in (or an answer went out).
    deadline: Option<Pin<Box<Sleep>>>,
    /// The last bytes read, to find the end of the headers across reads.
    tail: [u8; 3],
    /// How long nothing may move, when something last did, and the timer that checks (gone
    /// once the connection is a WebSocket).
    idle: Duration,
    last_moved: Instant,
    idle_timer: Option<Pin<Box<Sleep>>>,
}

/// Whether `read` (following `tail`, the three bytes before it) holds the blank line that ends a
/// request's headers.
fn ends_headers(tail: &[u8; 3], read: &[u8]) -> bool {
    let mut window: Vec<u8> = Vec::with_capacity(3 + read.len());
    window.extend_from_slice(tail);
    window.extend_from_slice(read);
    window.windows(4).any(|w| w == b"\r\n\r\n")
}

impl AsyncRead for Guarded {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(deadline) = this.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "no complete request headers in time")));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.last_moved = Instant::now();
        } else if this.idle_expired(cx) {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "nothing moved on the connection for too long")));
        }
        if this.deadline.is_some()
            && let Poll::Ready(Ok(())) = read
        {
            let new = &buf.filled()[before..];
            if ends_headers(&this.tail, new) {
                this.deadline = None;
            } else {
                let mut joined = this.tail.to_vec();
                joined.extend_from_slice(new);
                this.tail.copy_from_slice(&joined[joined.len() - 3..]);
            }
        }
        read
    }
}

impl Guarded {
    /// An answer is going out: the request's headers were read (whatever their line endings).
    /// Once it is a `101 Switching Protocols` the connection is a WebSocket: no idle limit.
    fn answered(&mut self, data: &[u8], written: &Poll<io::Result<usize>>) {
        if matches!(written, Poll::Ready(Ok(n)) if *n > 0) {
            self.deadline = None;
            self.last_moved = Instant::now();
            if self.idle_timer.is_some() && data.starts_with(b"HTTP/1.1 101 ") {
                self.idle_timer = None;
            }
        }
    }

    /// Whether nothing moved for `idle`; otherwise the timer is set for when that would be.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(timer) = self.idle_timer.as_mut() else { return false };
        while timer.as_mut().poll(cx).is_ready() {
            let due = self.last_moved + self.idle;
            if Instant::now() >= due {
                return true;
            }
            // Something moved since the timer was set: wait for the new moment.
            timer.as_mut().reset(due.into());
        }
        false
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, data);
        self.answered(data, &written);
        written
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write_vectored(cx, data);
        let first = data.iter().find(|d| !d.is_empty()).map_or(&[][..], |d| &d[..]);
        self.answered(first, &written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_find_vanished_peers() {
        let mut listener = Listener::new(bind("127.0.0.1:0".parse().unwrap()).unwrap(), Duration::from_secs(5), Duration::from_secs(60));
        let addr = axum::serve::Listener::local_addr(&listener).unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = axum::serve::Listener::accept(&mut listener).await;
        let socket = socket2::SockRef::from(&accepted.io);
        assert!(socket.keepalive().unwrap());
        assert_eq!(socket.tcp_keepalive_time().unwrap(), KEEPALIVE_IDLE);
        assert_eq!(socket.tcp_keepalive_interval().unwrap(), KEEPALIVE_INTERVAL);
        assert_eq!(socket.tcp_keepalive_retries().unwrap(), KEEPALIVE_PROBES);
        assert_eq!(socket.tcp_user_timeout().unwrap(), Some(UNACKNOWLEDGED_FOR));
        assert!(socket.tcp_nodelay().unwrap());
    }

    #[test]
    fn the_end_of_headers_is_found_across_reads() {
        assert!(ends_headers(&[0; 3], b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!ends_headers(&[0; 3], b"GET / HTTP/1.1\r\nHost: a\r\n"));
        assert!(ends_headers(b"a\r\n", b"\r\n"), "split between two reads");
        assert!(ends_headers(b"\r\n\r", b"\n"));
        assert!(!ends_headers(b"\r\n\r", b"x"));
    }
}
