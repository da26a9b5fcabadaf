//! A WebRTC peer for tests, on str0m: publishes synthetic H.264 and Opus over WHIP, or watches
//! over WHEP and counts what arrives. Loopback only: its one candidate is 127.0.0.1.

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
        let peer = Peer { rtc, socket, local, pending: Some(pending), video, audio, connected: false };
        (peer, offer.to_sdp_string())
    }

    pub fn accept(&mut self, answer: &str) {
        let answer = SdpAnswer::from_sdp_string(answer).expect("the server's answer is SDP");
        self.rtc.sdp_api().accept_answer(self.pending.take().unwrap(), answer).expect("answer accepted");
    }

    /// Runs the peer until `until` or until `on_event` returns true (then true). When `frames`
    /// is set, a publisher sends 30 video frames a second (a keyframe each second) and audio.
    pub async fn pump(&mut self, until: Instant, frames: bool, mut on_event: impl FnMut(&Event) -> bool) -> bool {
        let mut buf = vec![0u8; 2048];
        let start = Instant::now();
        let mut n_video = 0u64;
        let mut n_audio = 0u64;
        loop {
            let timeout = loop {
                match self.rtc.poll_output() {
                    Ok(Output::Timeout(t)) => break t,
                    Ok(Output::Transmit(t)) => {
                        let _ = self.socket.send_to(&t.contents, t.destination).await;
                    }
                    Ok(Output::Event(e)) => {
                        if matches!(e, Event::Connected) {
                            self.connected = true;
                        }
                        if on_event(&e) {
                            return true;
                        }
                    }
                    Err(e) => panic!("peer failed: {e}"),
                }
            };
            let now = Instant::now();
            if now >= until || !self.rtc.is_alive() {
                return false;
            }
            if frames && self.connected {
                let elapsed = now.duration_since(start);
                while Duration::from_millis(n_video * 33) <= elapsed {
                    self.send_video(n_video, now);
                    n_video += 1;
                }
                while Duration::from_millis(n_audio * 20) <= elapsed {
                    self.send_audio(n_audio, now);
                    n_audio += 1;
                }
            }
            let next_frame = Instant::now() + Duration::from_millis(10);
            let wait = timeout.min(until).min(if frames { next_frame } else { until });
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => {
                    let (n, source) = received.unwrap();
                    if let Ok(contents) = buf[..n].try_into() {
                        let input = Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination: self.local, contents });
                        self.rtc.handle_input(input).unwrap();
                    }
                }
                () = tokio::time::sleep_until(wait.into()) => {
                    self.rtc.handle_input(Input::Timeout(Instant::now())).unwrap();
                }
            }
        }
    }

    fn send_video(&mut self, n: u64, now: Instant) {
        let mut frame = Vec::new();
        if n.is_multiple_of(30) {
            // SPS, PPS, then an IDR slice: what an encoder sends at a keyframe (Annex B).
            frame.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8, 0x40]);
            frame.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]);
            frame.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88, 0x84]);
            frame.extend(std::iter::repeat_n(0x5a, 3000));
        } else {
            frame.extend_from_slice(&[0, 0, 0, 1, 0x41, 0x9a]);
            frame.extend(std::iter::repeat_n(0x3c, 900));
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
