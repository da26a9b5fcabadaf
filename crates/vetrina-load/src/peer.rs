//! A WebRTC peer on str0m, for tests and load: publishes synthetic H.264 and Opus over WHIP, or
//! watches over WHEP. Loopback only: its one candidate is 127.0.0.1.
//!
//! Published video frames carry the time they were sent (microseconds since the Unix epoch,
//! written as sixteen `0x40 | nibble` bytes so no start code can appear) as their last bytes: a
//! viewer on the same machine reads [`sent_at`] to measure delivery delay.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;

pub struct Peer {
    pub rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    pending: Option<SdpPendingOffer>,
    pub video: Mid,
    pub audio: Mid,
    pub connected: bool,
    /// When ICE and DTLS were done.
    pub connected_at: Option<Instant>,
    /// Encoded video frames (Annex B access units) to send instead of synthetic ones, in order.
    script: Option<std::collections::VecDeque<Vec<u8>>>,
    /// The RTP payload types of video in the answer (not their resends).
    video_pts: Vec<u8>,
}

impl Peer {
    /// A peer that sends (`publisher`) or receives audio and video; returns it and its offer.
    pub async fn new(publisher: bool, codecs: &[&str]) -> (Peer, String) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = socket.local_addr().unwrap();
        let mut config = Rtc::builder().clear_codecs();
        for codec in codecs {
            config = match *codec {
                "h264" => config.enable_h264(true),
                "vp8" => config.enable_vp8(true),
                "opus" => config.enable_opus(true, false),
                other => panic!("codec {other}"),
            };
        }
        let mut rtc = config.build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        let direction = if publisher { Direction::SendOnly } else { Direction::RecvOnly };
        let mut api = rtc.sdp_api();
        let video = api.add_media(MediaKind::Video, direction, None, None, None);
        let audio = api.add_media(MediaKind::Audio, direction, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        let peer = Peer {
            rtc,
            socket,
            local,
            pending: Some(pending),
            video,
            audio,
            connected: false,
            connected_at: None,
            script: None,
            video_pts: Vec::new(),
        };
        (peer, offer.to_sdp_string())
    }

    /// Sends these encoded frames (30 a second, from the next [`Peer::pump`] with frames) instead
    /// of synthetic ones; video stops after the last.
    pub fn play(&mut self, frames: Vec<Vec<u8>>) {
        self.script = Some(frames.into());
    }

    pub fn accept(&mut self, answer: &str) {
        self.video_pts = video_payload_types(answer);
        let answer = SdpAnswer::from_sdp_string(answer).expect("the server's answer is SDP");
        self.rtc.sdp_api().accept_answer(self.pending.take().unwrap(), answer).expect("answer accepted");
    }

    /// Runs the peer until `until` or until `on_event` returns true (then true). When `frames`
    /// is set, a publisher sends 30 video frames a second (a keyframe each second) and audio.
    pub async fn pump(&mut self, until: Instant, frames: bool, on_event: impl FnMut(&Event) -> bool) -> bool {
        self.pump_with(until, if frames { Some(FrameSize::default()) } else { None }, on_event).await
    }

    /// Like [`Peer::pump`], with the size of the frames a publisher sends.
    pub async fn pump_with(&mut self, until: Instant, frames: Option<FrameSize>, mut on_event: impl FnMut(&Event) -> bool) -> bool {
        let mut buf = vec![0u8; 2048];
        let start = Instant::now();
        let mut n_video = 0u64;
        let mut n_audio = 0u64;
        let mut force_keyframe = false;
        loop {
            let polled = self
                .poll_until_timeout(|e| {
                    // As encoders do: a viewer asked for a keyframe, send one next.
                    if let Event::KeyframeRequest(_) = e {
                        force_keyframe = true;
                    }
                    on_event(e)
                })
                .await;
            let timeout = match polled {
                Polled::Timeout(t) => t,
                Polled::Done => return true,
                Polled::Failed => return false,
            };
            let now = Instant::now();
            if now >= until || !self.rtc.is_alive() {
                return false;
            }
            if let Some(size) = frames.filter(|_| self.connected) {
                let elapsed = now.duration_since(start);
                while Duration::from_millis(n_video * 33) <= elapsed {
                    self.send_video(n_video, now, size, std::mem::take(&mut force_keyframe));
                    n_video += 1;
                }
                while Duration::from_millis(n_audio * 20) <= elapsed {
                    self.send_audio(n_audio, now);
                    n_audio += 1;
                }
            }
            let next_frame = Instant::now() + Duration::from_millis(10);
            let wait = timeout.min(until).min(if frames.is_some() { next_frame } else { until });
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => {
                    let (n, source) = received.expect("a UDP socket on loopback receives");
                    if !self.feed(&buf[..n], source, Instant::now()) {
                        return false;
                    }
                }
                () = tokio::time::sleep_until(wait.into()) => {
                    if !self.time_passed() {
                        return false;
                    }
                }
            }
        }
    }

    /// Sends what str0m has to send and hands its events to `on_event`, up to its next timeout.
    async fn poll_until_timeout(&mut self, mut on_event: impl FnMut(&Event) -> bool) -> Polled {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => return Polled::Timeout(t),
                Ok(Output::Transmit(t)) => {
                    let _ = self.socket.send_to(&t.contents, t.destination).await;
                }
                Ok(Output::Event(e)) => {
                    if let Event::Connected = e {
                        self.set_connected();
                    }
                    if on_event(&e) {
                        return Polled::Done;
                    }
                }
                // A peer that fails (a DTLS handshake that timed out under load) ends; the report
                // counts it as not connected or starved, never a crash of the run.
                Err(e) => {
                    self.fail(e);
                    return Polled::Failed;
                }
            }
        }
    }

    /// Gives str0m a datagram: false when the session failed on it.
    fn feed(&mut self, datagram: &[u8], source: SocketAddr, now: Instant) -> bool {
        let Ok(contents) = datagram.try_into() else { return true };
        let input = Input::Receive(now, Receive { proto: Protocol::Udp, source, destination: self.local, contents });
        match self.rtc.handle_input(input) {
            Ok(()) => true,
            Err(e) => self.fail(e),
        }
    }

    /// Tells str0m the time: false when the session failed.
    fn time_passed(&mut self) -> bool {
        match self.rtc.handle_input(Input::Timeout(Instant::now())) {
            Ok(()) => true,
            Err(e) => self.fail(e),
        }
    }

    /// Watches until `until` without decrypting the media: ICE, DTLS and RTCP go through str0m
    /// as in [`Peer::pump`], but RTP packets are only looked at in their clear header, and
    /// `on_frame` is called when the last packet of a video frame (the marker bit) arrives. A
    /// load generator's viewer costs a fraction of a full one this way, while the server does
    /// all its work for it (the session, the encryption, the sends).
    pub async fn watch_headers(&mut self, until: Instant, mut on_frame: impl FnMut(Instant)) {
        let mut buf = vec![0u8; 2048];
        loop {
            let Polled::Timeout(timeout) = self.poll_until_timeout(|_| false).await else { return };
            if Instant::now() >= until || !self.rtc.is_alive() {
                return;
            }
            tokio::select! {
                ready = self.socket.readable() => {
                    if ready.is_err() {
                        return;
                    }
                    // Everything waiting, then back to str0m for what it has to say.
                    for _ in 0..64 {
                        let Ok((n, source)) = self.socket.try_recv_from(&mut buf) else { break };
                        let now = Instant::now();
                        let datagram = &buf[..n];
                        if let Some((pt, marker)) = rtp_header(datagram) {
                            if marker && self.video_pts.contains(&pt) {
                                on_frame(now);
                            }
                            continue;
                        }
                        if !self.feed(datagram, source, now) {
                            return;
                        }
                    }
                }
                () = tokio::time::sleep_until(timeout.min(until).into()) => {
                    if !self.time_passed() {
                        return;
                    }
                }
            }
        }
    }

    fn set_connected(&mut self) {
        self.connected = true;
        self.connected_at = Some(Instant::now());
    }

    /// The session failed: it says why on stderr and ends (`pump` returns false).
    fn fail(&mut self, e: str0m::RtcError) -> bool {
        eprintln!("peer failed: {e}");
        self.rtc.disconnect();
        false
    }

    fn send_video(&mut self, n: u64, now: Instant, size: FrameSize, keyframe: bool) {
        let mut frame = Vec::new();
        let stamp = stamp_now();
        if let Some(script) = &mut self.script {
            match script.pop_front() {
                Some(f) => frame = f,
                None => return,
            }
        } else if keyframe || n.is_multiple_of(size.keyframe_every) {
            // SPS, PPS, then an IDR slice: what an encoder sends at a keyframe (Annex B).
            frame.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8, 0x40]);
            frame.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]);
            frame.extend_from_slice(&[0, 0, 0, 1, 0x65]);
            frame.extend(std::iter::repeat_n(0x5a, size.keyframe_bytes));
            frame.extend(stamp);
        } else {
            frame.extend_from_slice(&[0, 0, 0, 1, 0x41]);
            frame.extend(std::iter::repeat_n(0x3c, size.frame_bytes));
            frame.extend(stamp);
        }
        let Some(writer) = self.rtc.writer(self.video) else { return };
        let Some(pt) = writer.payload_params().next().map(|p| p.pt()) else { return };
        let _ = writer.write(pt, now, MediaTime::new(n * 3000, str0m::media::Frequency::NINETY_KHZ), frame);
    }

    fn send_audio(&mut self, n: u64, now: Instant) {
        let Some(writer) = self.rtc.writer(self.audio) else { return };
        let Some(pt) = writer.payload_params().next().map(|p| p.pt()) else { return };
        let _ = writer.write(pt, now, MediaTime::new(n * 960, str0m::media::Frequency::FORTY_EIGHT_KHZ), vec![0xfc; 80]);
    }
}

/// The payload types an SDP maps to H.264 or VP8.
fn video_payload_types(sdp: &str) -> Vec<u8> {
    sdp.lines()
        .filter_map(|l| l.strip_prefix("a=rtpmap:"))
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, codec)| {
            let name = codec.split('/').next().unwrap_or_default();
            name.eq_ignore_ascii_case("h264") || name.eq_ignore_ascii_case("vp8")
        })
        .filter_map(|(pt, _)| pt.parse().ok())
        .collect()
}

/// The payload type and marker bit (the last packet of a frame) of a datagram that is an RTP
/// packet (RFC 7983: first byte 128-191; RFC 5761: RTCP's packet types 192-223 are not RTP
/// payload types). `None` for anything else: STUN, DTLS, RTCP.
fn rtp_header(datagram: &[u8]) -> Option<(u8, bool)> {
    let (first, second) = (*datagram.first()?, *datagram.get(1)?);
    if !(128..=191).contains(&first) || (192..=223).contains(&second) || datagram.len() < 12 {
        return None;
    }
    Some((second & 0x7f, second & 0x80 != 0))
}

/// How polling str0m up to its next timeout ended.
enum Polled {
    Timeout(Instant),
    /// The caller's `on_event` said it has what it waited for.
    Done,
    /// The session failed (and said why).
    Failed,
}

/// How big the synthetic video frames are (30 a second).
#[derive(Clone, Copy, Debug)]
pub struct FrameSize {
    pub frame_bytes: usize,
    pub keyframe_bytes: usize,
    pub keyframe_every: u64,
}

impl Default for FrameSize {
    fn default() -> Self {
        FrameSize { frame_bytes: 900, keyframe_bytes: 3000, keyframe_every: 30 }
    }
}

impl FrameSize {
    /// Frames for about `kbps` of video at 30 frames a second, a keyframe every 2 s (4x a frame).
    pub fn for_kbps(kbps: usize) -> FrameSize {
        let per_second = kbps * 1000 / 8;
        let frame_bytes = per_second / (29 + 4);
        FrameSize { frame_bytes, keyframe_bytes: frame_bytes * 4, keyframe_every: 60 }
    }
}

fn stamp_now() -> [u8; 16] {
    let micros = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = 0x40 | ((micros >> (60 - 4 * i)) & 0xf) as u8;
    }
    out
}

/// When a synthetic video frame was sent (Unix microseconds), read from its last 16 bytes.
pub fn sent_at(frame: &[u8]) -> Option<u64> {
    let stamp = frame.get(frame.len().checked_sub(16)?..)?;
    stamp.iter().try_fold(0u64, |acc, b| (b & 0xf0 == 0x40).then_some((acc << 4) | u64::from(b & 0xf)))
}
