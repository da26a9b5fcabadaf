//! Sending a run of datagrams to one address in one system call.
//!
//! A video frame leaves the engine as several RTP packets for each viewer, all of one size but
//! the last, all to the same address. Linux's UDP generic segmentation offload (`UDP_SEGMENT`,
//! since 4.18) takes such a run as one buffer and one `sendmsg`, and goes down the stack once;
//! the datagrams on the wire are the same as one `sendto` each. Where the kernel refuses it (an
//! old kernel, a device without checksum offload) the sender falls back to one `sendto` per
//! datagram for good; a run refused once it has worked (a full buffer, one route) goes out
//! datagram by datagram alone.

use std::io::IoSlice;
use std::net::SocketAddr;

/// At most this many datagrams in one send (the kernel's `UDP_MAX_SEGMENTS`).
const MAX_SEGMENTS: usize = 64;
/// At most this many bytes in one send (a UDP datagram's payload, as GSO sees the whole run).
const MAX_BYTES: usize = 65_000;

/// A run of datagrams for one address: all of the first one's size, but the last may be shorter.
#[derive(Debug, Default)]
pub(crate) struct Run {
    to: Option<SocketAddr>,
    segment: usize,
    count: usize,
    /// A datagram shorter than the first ended the run.
    closed: bool,
    bytes: Vec<u8>,
}

impl Run {
    /// Whether `len` bytes for `to` may join the run.
    pub(crate) fn fits(&self, to: SocketAddr, len: usize) -> bool {
        self.count == 0
            || (self.to == Some(to)
                && !self.closed
                && len <= self.segment
                && self.count < MAX_SEGMENTS
                && self.bytes.len() + len <= MAX_BYTES)
    }

    /// Adds a datagram; the caller checked [`Run::fits`].
    pub(crate) fn push(&mut self, to: SocketAddr, datagram: &[u8]) {
        if self.count == 0 {
            self.to = Some(to);
            self.segment = datagram.len();
        } else if datagram.len() < self.segment {
            self.closed = true;
        }
        self.count += 1;
        self.bytes.extend_from_slice(datagram);
    }

    /// The datagrams of the run, in order.
    pub(crate) fn datagrams(&self) -> impl Iterator<Item = &[u8]> {
        self.bytes.chunks(self.segment.max(1))
    }

    fn clear(&mut self) {
        self.to = None;
        self.segment = 0;
        self.count = 0;
        self.closed = false;
        self.bytes.clear();
    }
}

/// The engine's side of the UDP socket: datagrams go out in runs per address.
pub(crate) struct Sender {
    socket: socket2::Socket,
    gso: bool,
    /// A run went out in one send at least once: the kernel knows `UDP_SEGMENT`, so a later
    /// refusal is about that run (its route), not the kernel.
    gso_worked: bool,
    run: Run,
}

impl Sender {
    pub(crate) fn new(socket: std::net::UdpSocket) -> Sender {
        Sender {
            socket: socket.into(),
            gso: cfg!(all(target_os = "linux", target_pointer_width = "64")),
            gso_worked: false,
            run: Run::default(),
        }
    }

    /// Sends `datagram` to `to`, now or with the next ones for the same address: call
    /// [`Sender::flush`] when a session has nothing more to send.
    pub(crate) fn send(&mut self, to: SocketAddr, datagram: &[u8]) {
        if !self.run.fits(to, datagram.len()) {
            self.flush();
        }
        self.run.push(to, datagram);
    }

    /// Sends what waits. UDP: a datagram the kernel cannot take now is lost like any other, but
    /// a run the kernel cannot take whole goes datagram by datagram, so that a full send buffer
    /// loses the datagrams that do not fit, not a whole frame.
    pub(crate) fn flush(&mut self) {
        let Some(to) = self.run.to else { return };
        let to = socket2::SockAddr::from(to);
        if self.run.count > 1 && self.gso {
            let control = segment_control(self.run.segment as u16);
            let buffers = [IoSlice::new(&self.run.bytes)];
            let message = socket2::MsgHdr::new().with_addr(&to).with_buffers(&buffers).with_control(&control.0);
            match self.socket.sendmsg(&message, 0) {
                Ok(_) => {
                    self.gso_worked = true;
                    return self.run.clear();
                }
                // EIO: the device cannot checksum for us; EINVAL, ENOPROTOOPT, EOPNOTSUPP: the
                // kernel does not know UDP_SEGMENT (or, once it worked, this route refused it).
                Err(e) if matches!(e.raw_os_error(), Some(5 | 22 | 92 | 95)) && !self.gso_worked => {
                    tracing::warn!(error = %e, "the kernel refused UDP segmentation offload: sending datagrams one by one");
                    self.gso = false;
                }
                // A full buffer (EAGAIN, ENOBUFS) or a refusal for this run: one by one below.
                Err(e) => tracing::trace!(error = %e, "a run of datagrams not sent whole"),
            }
        }
        for datagram in self.run.datagrams() {
            let _ = self.socket.send_to(datagram, &to);
        }
        self.run.clear();
    }
}

/// The `UDP_SEGMENT` control message: a `cmsghdr` (length, level `SOL_UDP`, type) and the
/// segment size, padded to `CMSG_SPACE(2)`, as Linux lays it out on 64-bit targets.
#[repr(C, align(8))]
struct Control([u8; 24]);

fn segment_control(segment: u16) -> Control {
    const SOL_UDP: i32 = 17;
    const UDP_SEGMENT: i32 = 103;
    let mut c = [0u8; 24];
    c[..8].copy_from_slice(&(16u64 + 2).to_ne_bytes());
    c[8..12].copy_from_slice(&SOL_UDP.to_ne_bytes());
    c[12..16].copy_from_slice(&UDP_SEGMENT.to_ne_bytes());
    c[16..18].copy_from_slice(&segment.to_ne_bytes());
    Control(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_run_is_one_address_and_one_size_but_the_last() {
        let mut run = Run::default();
        assert!(run.fits(addr(1), 1200));
        run.push(addr(1), &[1; 1200]);
        assert!(run.fits(addr(1), 1200));
        assert!(!run.fits(addr(2), 1200), "another address");
        assert!(!run.fits(addr(1), 1201), "longer than the first");
        run.push(addr(1), &[2; 1200]);
        assert!(run.fits(addr(1), 300));
        run.push(addr(1), &[3; 300]);
        assert!(!run.fits(addr(1), 300), "nothing after a shorter datagram");
        let sizes: Vec<(u8, usize)> = run.datagrams().map(|d| (d[0], d.len())).collect();
        assert_eq!(sizes, [(1, 1200), (2, 1200), (3, 300)]);
    }

    #[test]
    fn a_run_stays_within_the_kernels_limits() {
        let mut run = Run::default();
        for _ in 0..MAX_SEGMENTS {
            assert!(run.fits(addr(1), 100));
            run.push(addr(1), &[0; 100]);
        }
        assert!(!run.fits(addr(1), 100));
        let mut run = Run::default();
        while run.fits(addr(1), 1400) {
            run.push(addr(1), &[0; 1400]);
        }
        assert!(run.bytes.len() <= MAX_BYTES && run.count < MAX_SEGMENTS);
    }

    #[test]
    fn the_receiver_gets_each_datagram_as_sent() {
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        let to = receiver.local_addr().unwrap();
        let other = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        other.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut sender = Sender::new(socket);
        let sent: Vec<Vec<u8>> = vec![vec![1; 1100], vec![2; 1100], vec![3; 1100], vec![4; 70]];
        for d in &sent {
            sender.send(to, d);
        }
        // Another address ends the run; then the rest goes with a flush.
        sender.send(other.local_addr().unwrap(), b"elsewhere");
        sender.send(to, &[5; 40]);
        sender.flush();
        let mut buf = [0u8; 2048];
        let mut got = Vec::new();
        for _ in 0..5 {
            let (n, _) = receiver.recv_from(&mut buf).unwrap();
            got.push(buf[..n].to_vec());
        }
        assert_eq!(got[..4], sent[..]);
        assert_eq!(got[4], vec![5; 40]);
        let (n, _) = other.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"elsewhere");
    }
}
