//! The media engine: every WebRTC session (publishers over WHIP, viewers over WHEP) of this node,
//! on one UDP socket, in shards: one thread each (one per core by default).
//!
//! Each session is a sans-IO `str0m::Rtc` owned by one shard. Shard 0 reads the datagrams and
//! hands each to the shard of the session whose remote address (or, for a new address, ICE
//! username fragment) it belongs to; each shard feeds its sessions their datagrams and timeouts
//! and drains their outputs: datagrams go out of the shared socket, a publisher's frames go to
//! the viewers of its show on its own shard and, shared, to the other shards for theirs. A show's
//! publisher always lives on the show's home shard (which decides the one-publisher rule and takes
//! keyframe requests); viewers take turns over the shards, so the per-viewer, per-packet work
//! (encryption, a send per packet) spreads over the cores; a frame is packetised once, on the
//! publisher's shard, and its payloads shared by every viewer (viewers run in RTP mode).
//! Commands from the web plane (open a session with an SDP offer, close one) come through a
//! bounded channel per shard; what the rest of Vetrina must know (a publisher connected, a
//! publisher left) goes out through another.
//!
//! Forwarding policy, per viewer: nothing is written until the viewer is connected and a video
//! keyframe arrives (one is requested from the publisher when the viewer connects, at most every
//! 300 ms per publisher); a viewer's packets leave in the pass that wrote them, so nothing is
//! buffered for a viewer beyond a pass; if a video frame never reached its shard (the shard's
//! queue was full), the viewer drops video until the next keyframe instead of being shown a
//! broken picture. One viewer's failure touches no other session.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use str0m::change::SdpOffer;
use str0m::media::Pt;
use str0m::media::{KeyframeRequestKind, MediaData, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{Extension, ExtensionMap, RtpWrite, SeqNo};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};

use crate::fmp4::{self, Kind};
use crate::forward::{Delays, Gate, KeyframeRequests};
use crate::packetize::{Packets, ShowPacketizer};
use crate::recorder::{Record, Recorders};
use crate::sdp::OfferSummary;
use str0m::format::Codec;

/// The media plane's part of the configuration.
#[derive(Clone, Debug)]
pub struct MediaConfig {
    /// The UDP address every WebRTC session shares.
    pub udp_listen: SocketAddr,
    /// The addresses advertised to clients as ICE candidates; the listen address when empty.
    pub public_ips: Vec<IpAddr>,
    /// How long a session may take to connect before it is dropped (and the reason logged).
    pub connect_timeout: Duration,
    /// Where shows are recorded (fragmented MP4); no recording when absent.
    pub recordings: Option<std::path::PathBuf>,
    /// Engine threads (shards), each with its share of the sessions; 0: one per core.
    pub threads: usize,
}

/// What the rest of Vetrina hears from the media plane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaEvent {
    PublisherConnected {
        show: String,
    },
    PublisherGone {
        show: String,
    },
    /// The show's recording has its first keyframe: media time 0 is `started_unix_ms`.
    RecordingStarted {
        show: String,
        path: std::path::PathBuf,
        started_unix_ms: i64,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MediaError {
    #[error("the SDP offer is not valid: {0}")]
    BadOffer(String),
    #[error("the offer has no media Vetrina can take (offered: {0}); send H.264 or VP8 video, or Opus audio")]
    NoSupportedMedia(String),
    /// Well-formed, but not an offer this session can take (RFC 9725 section 4.4: 422).
    #[error("{0}")]
    Unusable(String),
    #[error("someone is already publishing this show; to replace them, publish with ?takeover=true")]
    PublisherActive,
    #[error("no such media session")]
    UnknownSession,
    #[error("the media engine has stopped")]
    Stopped,
    #[error("too many sessions are connecting right now: try again in a few seconds")]
    Busy,
}

/// An opened session: its id (for the resource URL) and the SDP answer.
#[derive(Clone, Debug)]
pub struct Opened {
    pub id: String,
    pub answer: String,
}

/// One show's media right now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShowMedia {
    /// A publisher is connected.
    pub publishing: bool,
    pub n_viewers: usize,
}

/// Counts for health pages and load tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub n_publishers: usize,
    pub n_viewers: usize,
    pub n_viewers_receiving: usize,
    /// Time inside the server from reading the datagram that completes a frame to handing the
    /// frame to each viewer's session (every hand-over since the engine started; percentiles
    /// within about 3 %), in microseconds.
    pub forward_p50_us: u64,
    pub forward_p99_us: u64,
    pub forward_max_us: u64,
    /// The same hand-overs as (smallest delay of a bucket in microseconds, count) for the
    /// non-empty buckets, so that a load test can take two readings and see what happened between.
    pub forward_histogram: Vec<(u32, u64)>,
}

enum Command {
    Open {
        show: String,
        offer: Box<SdpOffer>,
        summary: OfferSummary,
        publisher: bool,
        takeover: bool,
        reply: oneshot::Sender<Result<Opened, MediaError>>,
    },
    Close {
        id: String,
        reply: oneshot::Sender<Result<(), MediaError>>,
    },
    Stats {
        reply: oneshot::Sender<(Stats, Delays)>,
    },
    Show {
        show: String,
        reply: oneshot::Sender<ShowMedia>,
    },
    EndShow {
        show: String,
    },
}

/// The handle the web plane holds; cheap to clone.
#[derive(Clone, Debug)]
pub struct Media {
    /// One command queue per shard.
    shards: Vec<mpsc::Sender<Command>>,
    /// Where the next viewer goes (round robin).
    next: Arc<AtomicUsize>,
    udp_addr: SocketAddr,
}

/// What one shard tells another.
enum Note {
    /// A datagram read by shard 0 for a session of this shard.
    Datagram { data: Vec<u8>, source: SocketAddr, at: Instant },
    /// A frame of a publisher on another shard, for this shard's viewers of the show.
    Frame(Arc<Frame>),
}

/// A publisher's frame, shared by the shards that forward it.
struct Frame {
    show: String,
    /// The publisher's session (on the show's home shard): with `data.pt`, what a viewer's
    /// payload type for this frame is remembered by.
    publisher: Key,
    kind: MediaKind,
    data: MediaData,
    /// Its RTP payloads, cut once on the publisher's shard.
    packets: Packets,
    /// Its RTP timestamp (the codec's clock).
    rtp_time: u32,
    /// When the datagram that completed it was read.
    read_at: Instant,
    /// The show's video frames, numbered on the publisher's shard (audio: 0), so a shard that
    /// missed one knows its viewers' pictures are broken until the next keyframe.
    video_seq: u64,
}

/// Which shard a remote address or an ICE username fragment belongs to: written by the shard
/// that owns the session (when it opens, connects, ends), read by shard 0 for each datagram.
#[derive(Default)]
struct Routes {
    by_remote: HashMap<SocketAddr, usize>,
    by_ufrag: HashMap<String, usize>,
}

/// The shard a show's publisher lives on (so the one-publisher rule is decided in one place).
fn home(show: &str, shards: usize) -> usize {
    // FNV-1a: stable across runs and threads.
    let hash = show.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (hash % shards.max(1) as u64) as usize
}

impl Media {
    /// Binds the UDP socket and starts the engine's shards (threads). They run until `shutdown`
    /// resolves.
    pub async fn start(
        config: MediaConfig,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<(Media, mpsc::Receiver<MediaEvent>)> {
        let socket = bind_udp(config.udp_listen)?;
        let udp_addr = socket.local_addr()?;
        let ips = if config.public_ips.is_empty() { vec![udp_addr.ip()] } else { config.public_ips.clone() };
        let candidates: Vec<SocketAddr> = ips.into_iter().map(|ip| SocketAddr::new(ip, udp_addr.port())).collect();
        let (event_tx, events) = mpsc::channel(1024);
        let recorders = match &config.recordings {
            Some(dir) => {
                let (started_tx, mut started) = mpsc::channel(64);
                let recorders = Recorders::start(dir.clone(), started_tx)?;
                let forward = event_tx.clone();
                tokio::spawn(async move {
                    while let Some(s) = started.recv().await {
                        let event = MediaEvent::RecordingStarted { show: s.show, path: s.path, started_unix_ms: s.started_unix_ms };
                        if forward.send(event).await.is_err() {
                            return;
                        }
                    }
                });
                Some(recorders)
            }
            None => None,
        };
        let n = match config.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let (stop_tx, stop) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let routes = (n > 1).then(|| Arc::new(Mutex::new(Routes::default())));
        let (mut note_txs, mut note_rxs) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut keyframe_txs, mut keyframe_rxs) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for _ in 0..n {
            let (tx, rx) = mpsc::channel(NOTES_PER_SHARD);
            note_txs.push(tx);
            note_rxs.push(rx);
            let (tx, rx) = mpsc::unbounded_channel();
            keyframe_txs.push(tx);
            keyframe_rxs.push(rx);
        }
        let mut shards = Vec::with_capacity(n);
        for (shard, (notes, keyframes)) in note_rxs.into_iter().zip(keyframe_rxs).enumerate() {
            let (commands, command_rx) = mpsc::channel(256);
            shards.push(commands);
            let mut engine = Engine::new(candidates.clone(), config.connect_timeout, event_tx.clone(), recorders.clone());
            engine.shard = shard;
            engine.peers = note_txs.clone();
            engine.keyframe_wanted = keyframe_txs.clone();
            engine.routes = routes.clone();
            engine.sender = Some(crate::batch::Sender::new(socket.try_clone()?));
            // Shard 0 reads the socket and hands each datagram to the shard of its session.
            let receiver = if shard == 0 { Some(socket.try_clone()?) } else { None };
            let stop = stop.clone();
            // Each shard gets a thread and an event loop of its own: no work stealing, no
            // wake-ups across threads for every datagram, and the web plane's load never delays
            // a frame.
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            std::thread::Builder::new().name(format!("vetrina-media-{shard}")).spawn(move || {
                runtime.block_on(async move {
                    let receiver = match receiver.map(UdpSocket::from_std).transpose() {
                        Ok(r) => r,
                        Err(e) => return tracing::error!(error = %e, "cannot use the media socket"),
                    };
                    engine.run(receiver, command_rx, notes, keyframes, stop).await;
                });
            })?;
        }
        tracing::info!(%udp_addr, threads = n, "media engine listening");
        Ok((Media { shards, next: Arc::new(AtomicUsize::new(0)), udp_addr }, events))
    }

    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// Opens a publisher (WHIP) session for `show` with an SDP offer.
    pub async fn publish(&self, show: &str, offer: &str, takeover: bool) -> Result<Opened, MediaError> {
        self.open(show, offer, true, takeover).await
    }

    /// Opens a viewer (WHEP) session for `show` with an SDP offer.
    pub async fn watch(&self, show: &str, offer: &str) -> Result<Opened, MediaError> {
        self.open(show, offer, false, false).await
    }

    async fn open(&self, show: &str, offer: &str, publisher: bool, takeover: bool) -> Result<Opened, MediaError> {
        let summary = crate::sdp::inspect(offer).map_err(|e| MediaError::BadOffer(e.to_string()))?;
        if !summary.has_supported_media() {
            return Err(MediaError::NoSupportedMedia(if summary.codecs.is_empty() { "nothing".into() } else { summary.codecs.join(", ") }));
        }
        // One stream of at most one audio and one video track (RFC 9725 section 4.4.2, WHEP's
        // single MediaStream): a second would be answered and never carry anything.
        for (n, kind) in [(summary.n_audio, "audio"), (summary.n_video, "video")] {
            if n > 1 {
                return Err(MediaError::Unusable(format!("the offer has {n} {kind} sections: send one {kind} track at most")));
            }
        }
        // A publisher's track we could not take would be lost without a word: refuse the offer
        // rather than turn the section down (RFC 9725 section 4.4.3).
        if let (true, Some(kind)) = (publisher, summary.unusable.first()) {
            let wanted = if *kind == "video" { "H.264 or VP8" } else { "Opus" };
            return Err(MediaError::Unusable(format!(
                "the offer's {kind} has no codec Vetrina takes (offered: {}); send {wanted}, or leave the {kind} out",
                summary.codecs.join(", ")
            )));
        }
        let offer = crate::sdp::one_way(offer, publisher).map_err(|e| MediaError::Unusable(e.to_string()))?;
        let offer = SdpOffer::from_sdp_string(&offer).map_err(|e| MediaError::BadOffer(e.to_string()))?;
        let (reply, answer) = oneshot::channel();
        let command = Command::Open { show: show.to_string(), offer: Box::new(offer), summary, publisher, takeover, reply };
        // A show's publishers always open on its home shard; viewers take turns.
        let shard = if publisher { home(show, self.shards.len()) } else { self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len() };
        self.shards[shard].send(command).await.map_err(|_| MediaError::Stopped)?;
        answer.await.map_err(|_| MediaError::Stopped)?
    }

    /// Asks every shard, and gathers their answers.
    async fn ask_all<T>(&self, command: impl Fn(oneshot::Sender<T>) -> Command) -> Result<Vec<T>, MediaError> {
        let mut answers = Vec::with_capacity(self.shards.len());
        for shard in &self.shards {
            let (reply, answer) = oneshot::channel();
            shard.send(command(reply)).await.map_err(|_| MediaError::Stopped)?;
            answers.push(answer);
        }
        let mut out = Vec::with_capacity(answers.len());
        for answer in answers {
            out.push(answer.await.map_err(|_| MediaError::Stopped)?);
        }
        Ok(out)
    }

    /// The show is over: close its recording.
    pub async fn end_show(&self, show: &str) -> Result<(), MediaError> {
        for shard in &self.shards {
            shard.send(Command::EndShow { show: show.to_string() }).await.map_err(|_| MediaError::Stopped)?;
        }
        Ok(())
    }

    /// Ends a session (the DELETE of its resource URL).
    pub async fn close(&self, id: &str) -> Result<(), MediaError> {
        let results = self.ask_all(|reply| Command::Close { id: id.to_string(), reply }).await?;
        if results.iter().any(Result::is_ok) { Ok(()) } else { Err(MediaError::UnknownSession) }
    }

    /// Whether `show` has a connected publisher, and how many viewers.
    pub async fn show(&self, show: &str) -> Result<ShowMedia, MediaError> {
        let parts = self.ask_all(|reply| Command::Show { show: show.to_string(), reply }).await?;
        Ok(ShowMedia { publishing: parts.iter().any(|p| p.publishing), n_viewers: parts.iter().map(|p| p.n_viewers).sum() })
    }

    pub async fn stats(&self) -> Result<Stats, MediaError> {
        let parts = self.ask_all(|reply| Command::Stats { reply }).await?;
        let mut stats = Stats::default();
        let mut delays = Delays::default();
        for (part, part_delays) in parts {
            stats.n_publishers += part.n_publishers;
            stats.n_viewers += part.n_viewers;
            stats.n_viewers_receiving += part.n_viewers_receiving;
            delays.merge(&part_delays);
        }
        stats.forward_p50_us = u64::from(delays.percentile(0.5));
        stats.forward_p99_us = u64::from(delays.percentile(0.99));
        stats.forward_max_us = u64::from(delays.max());
        stats.forward_histogram = delays.buckets();
        Ok(stats)
    }
}

#[derive(Debug)]
enum Role {
    Publisher { keyframes: KeyframeRequests, packetizer: ShowPacketizer },
    Viewer { gate: Gate, audio: Outgoing, video: Outgoing },
}

/// A viewer's send stream of one kind: its own sequence numbers (contiguous over what it was
/// sent, whatever it skipped), and the payload type for the publisher's codec, looked up once.
#[derive(Debug)]
struct Outgoing {
    next_seq: u64,
    /// (publisher session, the publisher's payload type) and the viewer's payload type for it.
    pt: Option<((Key, Pt), Option<Pt>)>,
}

impl Outgoing {
    fn new() -> Outgoing {
        // A random start (RFC 3550, 5.1) below 2^16, so the SRTP rollover counter starts at 0.
        let mut bytes = [0u8; 2];
        getrandom::getrandom(&mut bytes).expect("the OS random number generator failed");
        Outgoing { next_seq: u64::from(u16::from_be_bytes(bytes)), pt: None }
    }
}

/// A session's key inside the engine (cheap to hash and copy); `id` is its public name.
type Key = u64;

struct Session {
    key: Key,
    id: String,
    show: String,
    rtc: Rtc,
    role: Role,
    /// The kind of each negotiated media line.
    mids: Vec<(Mid, MediaKind)>,
    connected: bool,
    created: Instant,
    timeout: Instant,
    /// When its latest datagram was read from the socket (by shard 0).
    last_read: Instant,
    /// Our ICE username fragment for this session.
    ufrag: String,
}

impl Session {
    fn mid_of(&self, kind: MediaKind) -> Option<Mid> {
        self.mids.iter().find(|(_, k)| *k == kind).map(|(m, _)| *m)
    }

    fn kind_of(&self, mid: Mid) -> Option<MediaKind> {
        self.mids.iter().find(|(m, _)| *m == mid).map(|(_, k)| *k)
    }
}

#[derive(Default)]
struct Broadcast {
    publisher: Option<Key>,
    viewers: Vec<Key>,
    /// Video frames numbered (on the publisher's shard), and the last one forwarded here.
    video_sent: u64,
    video_forwarded: Option<u64>,
}

/// What polling one session produced that concerns others.
enum Spill {
    Frame(Arc<Frame>),
    KeyframeWanted(String),
}

/// Hands a publisher's frame to the recorder: H.264 or VP8 video and Opus audio.
fn record(recorders: &Recorders, show: &str, kind: MediaKind, data: &MediaData) {
    let (track, timescale) = match (kind, data.params.spec().codec) {
        (MediaKind::Video, Codec::H264) => (Kind::Video, u64::from(fmp4::VIDEO_TIMESCALE)),
        (MediaKind::Video, Codec::Vp8) => (Kind::Vp8, u64::from(fmp4::VIDEO_TIMESCALE)),
        (MediaKind::Audio, Codec::Opus) => (Kind::Audio, u64::from(fmp4::AUDIO_TIMESCALE)),
        _ => return,
    };
    let frequency = u64::from(data.time.frequency().get().max(1));
    let rtp = (u128::from(data.time.numer()) * u128::from(timescale) / u128::from(frequency)) as u64;
    recorders.send(Record::Frame { show: show.to_string(), kind: track, rtp, wall: data.network_time, data: data.data.clone() });
}

/// The one UDP socket, with kernel buffers sized for bursts: every viewer's feedback and every
/// publisher's frame arrive here, and a frame goes out as a packet per viewer at once.
fn bind_udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(SockProtocol::UDP))?;
    // Best effort: the kernel caps these at net.core.rmem_max / wmem_max.
    let _ = socket.set_recv_buffer_size(4 << 20);
    let _ = socket.set_send_buffer_size(4 << 20);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Sessions still connecting, per show and in all, beyond which new offers wait (503).
const MAX_PENDING_PER_SHOW: usize = 500;
const MAX_PENDING: usize = 2_000;

/// A session id shortened for logs: the full id is the credential that ends the session.
fn short(id: &str) -> &str {
    id.get(..id.len().min(12)).unwrap_or(id)
}

/// How many packets of a viewer's video and audio are kept for resends, and for how long.
const VIEWER_VIDEO_HISTORY: usize = 256;
const VIEWER_AUDIO_HISTORY: usize = 50;
const VIEWER_RESEND_WINDOW: Duration = Duration::from_secs(1);

/// The RTP header extensions offered to viewers: str0m's standard set without transport-wide
/// sequence numbers (see [`Engine::new_rtc`]).
fn viewer_extensions() -> ExtensionMap {
    let mut exts = ExtensionMap::empty();
    for (id, ext) in ExtensionMap::standard().iter() {
        if *ext != Extension::TransportSequenceNumber {
            exts.set(id, ext.clone());
        }
    }
    exts
}

/// Notes waiting for a shard (datagrams, frames) beyond which they are dropped, like datagrams
/// the kernel cannot take.
const NOTES_PER_SHARD: usize = 16_384;

/// During a pass, what arrived meanwhile is taken this often.
const TAKE_EVERY: Duration = Duration::from_micros(500);

/// Publishers are asked for a keyframe at most this often.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(300);

/// A random session id: `pub_` or `view_` and 128 bits in hex.
fn session_id(publisher: bool) -> String {
    let mut bytes = [0u8; 16];
    // The OS random source failing is not something a media server can recover from.
    getrandom::getrandom(&mut bytes).expect("the OS random number generator failed");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}_{hex}", if publisher { "pub" } else { "view" })
}

/// What a shard takes in besides commands: datagrams from the socket (shard 0 only) and notes
/// from the other shards. Taken while the shard waits, and between polls during a pass, so a
/// frame never waits for a whole pass over the viewers.
struct Intake {
    socket: Option<UdpSocket>,
    notes: mpsc::Receiver<Note>,
    buf: Vec<u8>,
}

enum Taken {
    Note(Note),
    /// A datagram of this many bytes in `Intake::buf`, from this address.
    Datagram(usize, SocketAddr),
    /// A receive failed (and was logged); nothing to do.
    Nothing,
    /// The other shards are gone: the engine is stopping.
    Closed,
}

impl Intake {
    /// Waits for a note or a datagram.
    async fn wait(&mut self) -> Taken {
        let Intake { socket, notes, buf } = self;
        tokio::select! {
            note = notes.recv() => note.map_or(Taken::Closed, Taken::Note),
            received = async { socket.as_ref().expect("only polled with a socket").recv_from(buf).await }, if socket.is_some() => match received {
                Ok((n, source)) => Taken::Datagram(n, source),
                Err(e) => {
                    tracing::debug!(error = %e, "udp receive failed");
                    Taken::Nothing
                }
            },
        }
    }

    /// Takes what is waiting, without waiting: up to 64 datagrams and 64 notes.
    fn take_waiting(&mut self, engine: &mut Engine) {
        if let Some(socket) = &self.socket {
            let now = Instant::now();
            for _ in 0..64 {
                match socket.try_recv_from(&mut self.buf) {
                    Ok((n, source)) => engine.route(&self.buf[..n], source, now),
                    Err(_) => break,
                }
            }
        }
        for _ in 0..64 {
            match self.notes.try_recv() {
                Ok(note) => engine.note(note, Instant::now()),
                Err(_) => break,
            }
        }
    }
}

struct Engine {
    candidates: Vec<SocketAddr>,
    connect_timeout: Duration,
    sessions: HashMap<Key, Session>,
    /// Public session ids (resource URLs) to keys.
    ids: HashMap<String, Key>,
    next_key: Key,
    by_remote: HashMap<SocketAddr, Key>,
    /// Sessions by the ICE username fragment of our answer (checks from new addresses name it).
    by_ufrag: HashMap<String, Key>,
    shows: HashMap<String, Broadcast>,
    /// Sessions with output to drain.
    dirty: HashSet<Key>,
    /// Publishers that received datagrams since the pass began: polled between viewers.
    urgent: Vec<Key>,
    events: mpsc::Sender<MediaEvent>,
    recorders: Option<Recorders>,
    /// Every forwarding delay (µs) since the engine started.
    forward_delays: Delays,
    /// This shard's number, every shard's notes (by number), the routes shared by the shards
    /// (none with one shard).
    shard: usize,
    peers: Vec<mpsc::Sender<Note>>,
    /// Keyframe requests for each shard's publishers: their own queue, never full (a request
    /// lost under load would leave a new viewer without a picture).
    keyframe_wanted: Vec<mpsc::UnboundedSender<String>>,
    routes: Option<Arc<Mutex<Routes>>>,
    /// The socket this shard sends from (the shared port), a session's datagrams in runs.
    sender: Option<crate::batch::Sender>,
}

impl Engine {
    fn new(
        candidates: Vec<SocketAddr>,
        connect_timeout: Duration,
        events: mpsc::Sender<MediaEvent>,
        recorders: Option<Recorders>,
    ) -> Engine {
        Engine {
            candidates,
            connect_timeout,
            sessions: HashMap::new(),
            ids: HashMap::new(),
            next_key: 0,
            by_remote: HashMap::new(),
            by_ufrag: HashMap::new(),
            shows: HashMap::new(),
            dirty: HashSet::new(),
            urgent: Vec::new(),
            events,
            recorders,
            forward_delays: Delays::default(),
            shard: 0,
            peers: Vec::new(),
            keyframe_wanted: Vec::new(),
            routes: None,
            sender: None,
        }
    }

    async fn run(
        mut self,
        socket: Option<UdpSocket>,
        mut commands: mpsc::Receiver<Command>,
        notes: mpsc::Receiver<Note>,
        mut keyframes: mpsc::UnboundedReceiver<String>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut intake = Intake { socket, notes, buf: vec![0u8; 2048] };
        loop {
            let deadline = self.next_deadline(Instant::now());
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                command = commands.recv() => match command {
                    Some(command) => self.command(command, Instant::now()),
                    None => break,
                },
                Some(show) = keyframes.recv() => self.request_local_keyframe(&show, Instant::now()),
                taken = intake.wait() => match taken {
                    Taken::Note(note) => self.note(note, Instant::now()),
                    Taken::Datagram(n, source) => self.route(&intake.buf[..n], source, Instant::now()),
                    Taken::Nothing => {}
                    Taken::Closed => break,
                },
                () = tokio::time::sleep_until(deadline.into()) => {}
            }
            // Take what else is waiting before driving the sessions: one pass over them serves
            // a whole burst of datagrams.
            intake.take_waiting(&mut self);
            self.drive(Instant::now(), &mut intake);
        }
        tracing::info!(shard = self.shard, "media engine stopped");
    }

    /// A datagram read from the socket (shard 0): received here, or handed to the shard of its
    /// session.
    fn route(&mut self, datagram: &[u8], source: SocketAddr, now: Instant) {
        let Some(routes) = &self.routes else { return self.receive(datagram, source, now) };
        let shard = {
            let routes = routes.lock().unwrap_or_else(|e| e.into_inner());
            match routes.by_remote.get(&source) {
                Some(shard) => Some(*shard),
                // A new address names its session's username fragment in its ICE check.
                None if crate::stun::is_stun(datagram) => crate::stun::local_ufrag(datagram).and_then(|u| routes.by_ufrag.get(u)).copied(),
                None => None,
            }
        };
        match shard {
            Some(shard) if shard != self.shard => {
                let note = Note::Datagram { data: datagram.to_vec(), source, at: now };
                // A shard too far behind loses the datagram, as the kernel would.
                let _ = self.peers[shard].try_send(note);
            }
            _ => self.receive(datagram, source, now),
        }
    }

    /// What another shard told this one.
    fn note(&mut self, note: Note, now: Instant) {
        match note {
            Note::Datagram { data, source, at } => self.receive(&data, source, at),
            Note::Frame(frame) => self.forward(&frame, now),
        }
    }

    /// Notes this shard's route for an address or username fragment (with several shards).
    fn set_route(&self, change: impl FnOnce(&mut Routes)) {
        if let Some(routes) = &self.routes {
            change(&mut routes.lock().unwrap_or_else(|e| e.into_inner()));
        }
    }

    fn next_deadline(&self, now: Instant) -> Instant {
        let cap = now + Duration::from_millis(50);
        if !self.dirty.is_empty() {
            return now;
        }
        self.sessions.values().map(|s| s.timeout).min().map_or(cap, |t| t.min(cap))
    }

    fn new_rtc(&self, summary: &OfferSummary, publisher: bool, now: Instant) -> Rtc {
        let mut config = Rtc::builder().set_ice_lite(true).clear_codecs().enable_opus(true, false);
        // A publisher that can send H.264 must: it records to MP4 and plays everywhere. Viewers
        // take either, so they can watch a VP8 publisher too.
        config = if publisher && summary.has_h264 {
            config.enable_h264(true)
        } else if publisher {
            config.enable_vp8(true)
        } else {
            // Viewers are sent RTP packets, not frames (RTP mode): a frame is packetised once per
            // show, on the publisher's shard, and its payloads shared by every viewer (see
            // `forward`). Viewers get no transport-wide congestion control: nothing here adapts
            // a viewer's rate, so their feedback (a datagram every ~100 ms each) and its send
            // register would be spent for nothing.
            config.enable_h264(true).enable_vp8(true).set_rtp_mode(true).set_extension_map(viewer_extensions())
        };
        config.build(now)
    }

    fn command(&mut self, command: Command, now: Instant) {
        match command {
            Command::Open { show, offer, summary, publisher, takeover, reply } => {
                let _ = reply.send(self.open(show, *offer, &summary, publisher, takeover, now));
            }
            Command::Close { id, reply } => {
                let key = self.ids.get(&id).copied();
                let found = key.and_then(|k| self.sessions.get_mut(&k)).map(|s| s.rtc.disconnect()).is_some();
                if let Some(key) = key {
                    self.dirty.insert(key);
                }
                let _ = reply.send(if found { Ok(()) } else { Err(MediaError::UnknownSession) });
            }
            Command::EndShow { show } => {
                // The show is over: everyone leaves, and the recording closes.
                if let Some(broadcast) = self.shows.get(&show) {
                    for key in broadcast.publisher.iter().chain(broadcast.viewers.iter()) {
                        if let Some(s) = self.sessions.get_mut(key) {
                            s.rtc.disconnect();
                            self.dirty.insert(*key);
                        }
                    }
                }
                // The recording is the publisher's: its home shard closes it.
                if let Some(r) = self.recorders.as_ref().filter(|_| home(&show, self.peers.len().max(1)) == self.shard) {
                    r.send(Record::Stop { show });
                }
            }
            Command::Show { show, reply } => {
                let media = self.shows.get(&show).map_or_else(ShowMedia::default, |b| ShowMedia {
                    publishing: b.publisher.as_ref().and_then(|id| self.sessions.get(id)).is_some_and(|s| s.connected),
                    n_viewers: b.viewers.iter().filter(|k| self.sessions.get(k).is_some_and(|s| s.connected)).count(),
                });
                let _ = reply.send(media);
            }
            Command::Stats { reply } => {
                let mut stats = Stats::default();
                for s in self.sessions.values() {
                    match s.role {
                        Role::Publisher { .. } => stats.n_publishers += 1,
                        Role::Viewer { ref gate, .. } => {
                            stats.n_viewers += 1;
                            if s.connected && gate.receiving() {
                                stats.n_viewers_receiving += 1;
                            }
                        }
                    }
                }
                let _ = reply.send((stats, self.forward_delays.clone()));
            }
        }
    }

    fn open(
        &mut self,
        show: String,
        offer: SdpOffer,
        summary: &OfferSummary,
        publisher: bool,
        takeover: bool,
        now: Instant,
    ) -> Result<Opened, MediaError> {
        let current = if publisher { self.shows.get(&show).and_then(|b| b.publisher) } else { None };
        let current = current.filter(|k| self.sessions.get(k).is_some_and(|s| s.rtc.is_alive()));
        if current.is_some() && !takeover {
            return Err(MediaError::PublisherActive);
        }
        // Sessions that never connected cost the engine until they time out: cap them per show
        // and in all, so a flood of offers cannot starve the shows on air.
        let pending_here = self.sessions.values().filter(|s| !s.connected && s.show == show).count();
        let pending_all = self.sessions.values().filter(|s| !s.connected).count();
        // The caps are the node's: each shard takes its share (viewers take turns over them).
        let shards = self.peers.len().max(1);
        if pending_here >= MAX_PENDING_PER_SHOW.div_ceil(shards) || pending_all >= MAX_PENDING.div_ceil(shards) {
            return Err(MediaError::Busy);
        }
        let mut rtc = self.new_rtc(summary, publisher, now);
        for addr in &self.candidates {
            match Candidate::host(*addr, "udp") {
                Ok(c) => {
                    rtc.add_local_candidate(c);
                }
                Err(e) => tracing::warn!(%addr, error = %e, "cannot use address as ICE candidate"),
            }
        }
        // The WebRTC stack reads what a stranger sent: should it panic on an offer, that offer
        // fails, not the engine thread and every session on it.
        let accepted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rtc.sdp_api().accept_offer(offer)));
        let answer = match accepted {
            Ok(answer) => answer.map_err(|e| MediaError::BadOffer(e.to_string()))?,
            Err(_) => {
                tracing::warn!(show, "an SDP offer made the WebRTC stack panic; refused");
                return Err(MediaError::BadOffer("the offer could not be negotiated".into()));
            }
        };
        let answer = crate::sdp::finish_answer(&answer.to_sdp_string(), !publisher);
        // As many sections as offered, in order (RFC 3264 section 6), or the client cannot use it.
        let sections = answer.lines().filter(|l| l.starts_with("m=")).count();
        if sections != summary.n_media {
            return Err(MediaError::Unusable(format!(
                "the offer has {} sections and only {sections} could be answered: send audio, video and data channels only",
                summary.n_media
            )));
        }
        // The new offer is good: only now does a takeover end the current publisher.
        if let Some(current) = current {
            if let Some(old) = self.sessions.get_mut(&current) {
                tracing::info!(show, session = short(&old.id), "publisher taken over");
                old.rtc.disconnect();
            }
            self.reap(current);
        }
        // The id is the capability to end the session (DELETE on its URL): unguessable.
        let id = session_id(publisher);
        let role = if publisher {
            Role::Publisher { keyframes: KeyframeRequests::new(KEYFRAME_REQUEST_INTERVAL), packetizer: ShowPacketizer::default() }
        } else {
            Role::Viewer { gate: Gate::default(), audio: Outgoing::new(), video: Outgoing::new() }
        };
        let key = self.next_key;
        self.next_key += 1;
        let ufrag = crate::stun::sdp_ufrag(&answer).unwrap_or_default().to_string();
        let session = Session {
            key,
            id: id.clone(),
            show: show.clone(),
            rtc,
            role,
            mids: Vec::new(),
            connected: false,
            created: now,
            timeout: now,
            last_read: now,
            ufrag: ufrag.clone(),
        };
        self.sessions.insert(key, session);
        self.ids.insert(id.clone(), key);
        let shard = self.shard;
        self.set_route(|r| {
            r.by_ufrag.insert(ufrag.clone(), shard);
        });
        self.by_ufrag.insert(ufrag, key);
        let broadcast = self.shows.entry(show.clone()).or_default();
        if publisher {
            broadcast.publisher = Some(key);
        } else {
            broadcast.viewers.push(key);
        }
        self.dirty.insert(key);
        tracing::info!(show, session = short(&id), publisher, "media session opened");
        Ok(Opened { id, answer })
    }

    fn receive(&mut self, datagram: &[u8], source: SocketAddr, now: Instant) {
        let Ok(contents) = datagram.try_into() else { return };
        let destination = self.candidates.iter().find(|c| c.is_ipv4() == source.is_ipv4()).copied().unwrap_or(self.candidates[0]);
        let input = Input::Receive(now, Receive { proto: Protocol::Udp, source, destination, contents });
        let key = match self.by_remote.get(&source) {
            Some(k) if self.sessions.get(k).is_some_and(|s| s.rtc.accepts(&input)) => *k,
            // A new address must begin with an ICE connectivity check (STUN: the top two bits
            // zero and the magic cookie); anything else from an unknown address is dropped before
            // it costs a look at every session.
            _ if !crate::stun::is_stun(datagram) => return,
            // Routed by the ICE username fragment it names: one session asked, not all of them.
            _ => {
                let named = crate::stun::local_ufrag(datagram).and_then(|u| self.by_ufrag.get(u)).copied();
                match named.filter(|k| self.sessions.get(k).is_some_and(|s| s.rtc.accepts(&input))) {
                    Some(k) => {
                        self.by_remote.insert(source, k);
                        let shard = self.shard;
                        self.set_route(|r| {
                            r.by_remote.insert(source, shard);
                        });
                        k
                    }
                    None => return,
                }
            }
        };
        if let Some(session) = self.sessions.get_mut(&key) {
            session.last_read = now;
            if matches!(session.role, Role::Publisher { .. }) && !self.urgent.contains(&key) {
                self.urgent.push(key);
            }
            if let Err(e) = session.rtc.handle_input(input) {
                tracing::warn!(session = short(&session.id), error = %e, "dropping session after bad input");
                session.rtc.disconnect();
            }
            self.dirty.insert(key);
        }
    }

    /// Feeds due timeouts, drains every session with output, forwards frames, removes the dead.
    /// Between polls it takes what arrived meanwhile from `intake`, and hands new frames over.
    fn drive(&mut self, mut now: Instant, intake: &mut Intake) {
        for s in self.sessions.values_mut() {
            if s.timeout <= now {
                if let Err(e) = s.rtc.handle_input(Input::Timeout(now)) {
                    tracing::warn!(session = short(&s.id), error = %e, "session failed");
                    s.rtc.disconnect();
                }
                self.dirty.insert(s.key);
            }
            if !s.connected && now.duration_since(s.created) > self.connect_timeout && s.rtc.is_alive() {
                tracing::warn!(
                    session = short(&s.id),
                    show = s.show,
                    "session never connected: no ICE connectivity check reached the server (is UDP blocked, or are media.public_ips wrong?)"
                );
                s.rtc.disconnect();
                self.dirty.insert(s.key);
            }
        }
        // Keyframe requests held back by the throttle go out when their window ends.
        let due: Vec<String> = self
            .sessions
            .values()
            .filter(|s| matches!(&s.role, Role::Publisher { keyframes, .. } if keyframes.due(now)))
            .map(|s| s.show.clone())
            .collect();
        for show in due {
            self.request_keyframe(&show, now);
        }
        let mut rounds = 0;
        while !self.dirty.is_empty() && rounds < 8 {
            rounds += 1;
            // Publishers first, and their frames handed over at once: the viewers given a frame
            // then send it in this same pass, instead of the frame waiting behind every viewer's
            // sends (the hand-over delay was the time to poll half the shard's viewers).
            let (publishers, viewers): (Vec<Key>, Vec<Key>) =
                self.dirty.drain().partition(|k| self.sessions.get(k).is_some_and(|s| matches!(s.role, Role::Publisher { .. })));
            self.urgent.clear();
            self.poll_publishers(&publishers, now);
            self.dirty.extend(viewers);
            let mut keys: Vec<Key> = self.dirty.drain().collect();
            let mut spills = Vec::new();
            let mut taken = now;
            for key in &keys {
                self.poll(*key, now, &mut spills);
                self.flush();
                // What arrived during the pass is taken every half millisecond, and a publisher's
                // new frame handed over at once (to viewers polled already too, who are polled
                // again next round): otherwise a frame waited for the rest of the pass, and the
                // p99 of the forwarding delay was a whole pass over the shard's viewers (10-15 ms
                // at 1,000 viewers; a keyframe's pass is the longest).
                if taken.elapsed() >= TAKE_EVERY {
                    intake.take_waiting(self);
                    now = Instant::now();
                    taken = now;
                    let urgent = std::mem::take(&mut self.urgent);
                    self.poll_publishers(&urgent, now);
                }
            }
            self.spill(spills, now);
            keys.extend(publishers);
            let dead: Vec<Key> = keys.into_iter().filter(|k| self.sessions.get(k).is_some_and(|s| !s.rtc.is_alive())).collect();
            for key in dead {
                self.reap(key);
            }
        }
    }

    /// Polls publishers and hands their new frames over.
    fn poll_publishers(&mut self, keys: &[Key], now: Instant) {
        let mut spills = Vec::new();
        for key in keys {
            self.poll(*key, now, &mut spills);
            self.flush();
        }
        self.spill(spills, now);
    }

    /// Sends what the session just polled left for its address (a frame's packets in one
    /// system call).
    fn flush(&mut self) {
        if let Some(sender) = &mut self.sender {
            sender.flush();
        }
    }

    /// Acts on what polling sessions produced: frames go to this shard's viewers of the show and
    /// to the other shards; keyframe requests to the show's publisher.
    fn spill(&mut self, spills: Vec<Spill>, now: Instant) {
        for spill in spills {
            match spill {
                Spill::Frame(frame) => {
                    for (shard, peer) in self.peers.iter().enumerate() {
                        if shard != self.shard {
                            let _ = peer.try_send(Note::Frame(frame.clone()));
                        }
                    }
                    self.forward(&frame, now);
                }
                Spill::KeyframeWanted(show) => self.request_keyframe(&show, now),
            }
        }
    }

    fn poll(&mut self, key: Key, now: Instant, spills: &mut Vec<Spill>) {
        let Some(s) = self.sessions.get_mut(&key) else { return };
        let mut due_now = 0;
        loop {
            if !s.rtc.is_alive() {
                return;
            }
            let output = match s.rtc.poll_output() {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!(session = short(&s.id), error = %e, "session failed");
                    s.rtc.disconnect();
                    return;
                }
            };
            match output {
                // Something is due already: taken at once, up to 16 times. A viewer's RTP packets
                // written in `forward` are stamped for sending only by a timeout (str0m asks for
                // one at once), so this is what sends them in the same pass; with one timeout a
                // pass, a session given more than it could send in one fell further behind each
                // pass.
                Output::Timeout(t) if t <= now && due_now < 16 => {
                    due_now += 1;
                    if let Err(e) = s.rtc.handle_input(Input::Timeout(now)) {
                        tracing::warn!(session = short(&s.id), error = %e, "session failed");
                        s.rtc.disconnect();
                        return;
                    }
                }
                Output::Timeout(t) => {
                    s.timeout = t.max(now);
                    return;
                }
                Output::Transmit(t) => {
                    if let Some(sender) = &mut self.sender {
                        sender.send(t.destination, &t.contents);
                    }
                }
                Output::Event(event) => match event {
                    Event::Connected => {
                        s.connected = true;
                        tracing::info!(session = short(&s.id), show = s.show, "media session connected");
                        match s.role {
                            Role::Publisher { .. } => {
                                if let Some(r) = &self.recorders {
                                    r.send(Record::Resume { show: s.show.clone() });
                                }
                                if self.events.try_send(MediaEvent::PublisherConnected { show: s.show.clone() }).is_err() {
                                    tracing::error!(show = s.show, "media event queue full: publisher connection not reported");
                                }
                            }
                            Role::Viewer { .. } => spills.push(Spill::KeyframeWanted(s.show.clone())),
                        }
                    }
                    Event::IceConnectionStateChange(IceConnectionState::Disconnected) => s.rtc.disconnect(),
                    Event::MediaAdded(m) => {
                        s.mids.push((m.mid, m.kind));
                        if matches!(s.role, Role::Viewer { .. })
                            && let Some(tx) = s.rtc.direct_api().stream_tx_by_mid(m.mid, None)
                        {
                            // Resends answer losses a round trip old: a second of history is
                            // plenty for live video (str0m keeps 3 s), and a third of the memory.
                            let packets = if m.kind == MediaKind::Video { VIEWER_VIDEO_HISTORY } else { VIEWER_AUDIO_HISTORY };
                            tx.set_rtx_cache(packets, VIEWER_RESEND_WINDOW, Some(0.15));
                        }
                    }
                    Event::MediaData(data) => {
                        let kind = s.kind_of(data.mid);
                        if let (Role::Publisher { packetizer, .. }, Some(kind)) = (&mut s.role, kind) {
                            if kind == MediaKind::Video && !data.contiguous {
                                spills.push(Spill::KeyframeWanted(s.show.clone()));
                            }
                            if let Some(r) = &self.recorders {
                                record(r, &s.show, kind, &data);
                            }
                            let video_seq = match self.shows.get_mut(&s.show) {
                                Some(b) if kind == MediaKind::Video => {
                                    b.video_sent += 1;
                                    b.video_sent
                                }
                                _ => 0,
                            };
                            // Cut into RTP payloads here, once, for every viewer on every shard.
                            let Some(packets) = packetizer.packetize(data.params.spec().codec, &data.data) else { continue };
                            let rtp_time = data.time.rebase(data.params.spec().clock_rate).numer() as u32;
                            let frame = Frame {
                                show: s.show.clone(),
                                publisher: key,
                                kind,
                                data,
                                packets,
                                rtp_time,
                                read_at: s.last_read,
                                video_seq,
                            };
                            spills.push(Spill::Frame(Arc::new(frame)));
                        }
                    }
                    Event::KeyframeRequest(_) => spills.push(Spill::KeyframeWanted(s.show.clone())),
                    _ => {}
                },
            }
        }
    }

    fn forward(&mut self, frame: &Frame, now: Instant) {
        let (show, kind, data) = (frame.show.as_str(), frame.kind, &frame.data);
        let Some(broadcast) = self.shows.get_mut(show) else { return };
        // A video frame that never reached this shard (its queue was full): the pictures
        // after it are broken until the next keyframe.
        let missed = kind == MediaKind::Video && broadcast.video_forwarded.is_some_and(|last| frame.video_seq > last + 1);
        if kind == MediaKind::Video {
            broadcast.video_forwarded = Some(frame.video_seq);
        }
        for key in &broadcast.viewers {
            let Some(viewer) = self.sessions.get_mut(key) else { continue };
            if !viewer.connected || !viewer.rtc.is_alive() {
                continue;
            }
            let Some(mid) = viewer.mid_of(kind) else { continue };
            let Role::Viewer { gate, audio, video } = &mut viewer.role else { continue };
            if missed {
                gate.fell_behind();
            }
            if !gate.admit(kind == MediaKind::Video, data.is_keyframe()) {
                continue;
            }
            let out = if kind == MediaKind::Video { video } else { audio };
            let source = (frame.publisher, data.pt);
            let pt = match out.pt {
                Some((seen, pt)) if seen == source => pt,
                _ => {
                    let pt = viewer.rtc.codec_config().match_params(data.params).map(|p| p.pt());
                    if pt.is_none() {
                        tracing::debug!(session = short(&viewer.id), params = ?data.params, "the viewer did not negotiate the publisher's codec");
                    }
                    out.pt = Some((source, pt));
                    pt
                }
            };
            let Some(pt) = pt else { continue };
            let mut api = viewer.rtc.direct_api();
            let Some(stream) = api.stream_tx_by_mid(mid, None) else { continue };
            // The viewer's session is in RTP mode: the frame's shared payloads go to its send
            // stream under its own sequence numbers. They leave when the session is polled, in
            // this same pass (it is marked dirty below), so its queue never holds more than a
            // pass's frames; a viewer that cannot keep up loses datagrams at the socket, and
            // its picture loss indication brings a keyframe.
            let n = frame.packets.payloads.len();
            for (i, payload) in frame.packets.payloads.iter().enumerate() {
                let write = RtpWrite::new(pt, SeqNo::from(out.next_seq), frame.rtp_time, data.network_time, payload.clone())
                    .marker(frame.packets.marker_on_last && i + 1 == n)
                    .nackable(frame.packets.nackable);
                stream.write_rtp(write);
                out.next_seq += 1;
            }
            // From the moment the datagram completing this frame was read from the socket to the
            // hand-over: the time spent inside the server.
            let delay = Instant::now().saturating_duration_since(frame.read_at).as_micros().min(u128::from(u32::MAX)) as u32;
            self.forward_delays.record(delay);
            self.dirty.insert(*key);
        }
        if missed {
            self.request_keyframe(show, now);
        }
    }

    /// Asks the show's publisher for a keyframe: here, or through its home shard.
    fn request_keyframe(&mut self, show: &str, now: Instant) {
        let home = home(show, self.peers.len());
        if self.peers.len() > 1 && home != self.shard {
            let _ = self.keyframe_wanted[home].send(show.to_string());
            return;
        }
        self.request_local_keyframe(show, now);
    }

    /// Asks this shard's publisher of the show for a keyframe, at most every 300 ms.
    fn request_local_keyframe(&mut self, show: &str, now: Instant) {
        let Some(key) = self.shows.get(show).and_then(|b| b.publisher) else { return };
        let Some(publisher) = self.sessions.get_mut(&key) else { return };
        let Some(mid) = publisher.mid_of(MediaKind::Video) else { return };
        let Role::Publisher { keyframes, .. } = &mut publisher.role else { return };
        if !keyframes.ask(now) {
            return;
        }
        if let Some(mut writer) = publisher.rtc.writer(mid) {
            let _ = writer.request_keyframe(None, KeyframeRequestKind::Pli);
        }
        self.dirty.insert(key);
    }

    fn reap(&mut self, key: Key) {
        let Some(session) = self.sessions.remove(&key) else { return };
        self.ids.remove(&session.id);
        if self.by_ufrag.get(&session.ufrag) == Some(&key) {
            self.by_ufrag.remove(&session.ufrag);
        }
        let gone: Vec<SocketAddr> = self.by_remote.iter().filter(|(_, v)| **v == key).map(|(a, _)| *a).collect();
        self.by_remote.retain(|_, v| *v != key);
        let shard = self.shard;
        self.set_route(|r| {
            if r.by_ufrag.get(&session.ufrag) == Some(&shard) {
                r.by_ufrag.remove(&session.ufrag);
            }
            for addr in &gone {
                if r.by_remote.get(addr) == Some(&shard) {
                    r.by_remote.remove(addr);
                }
            }
        });
        self.dirty.remove(&key);
        if let Some(broadcast) = self.shows.get_mut(&session.show) {
            match session.role {
                Role::Publisher { .. } => {
                    if broadcast.publisher == Some(key) {
                        broadcast.publisher = None;
                        if session.connected && self.events.try_send(MediaEvent::PublisherGone { show: session.show.clone() }).is_err() {
                            tracing::error!(show = session.show, "media event queue full: publisher departure not reported");
                        }
                    }
                }
                Role::Viewer { .. } => broadcast.viewers.retain(|v| *v != key),
            }
            if broadcast.publisher.is_none() && broadcast.viewers.is_empty() {
                self.shows.remove(&session.show);
            }
        }
        tracing::info!(session = short(&session.id), show = session.show, "media session closed");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stun_is_told_from_media() {
        let mut binding = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        binding.extend([0u8; 12]);
        assert!(crate::stun::is_stun(&binding));
        assert!(!crate::stun::is_stun(&[0x80; 40]), "RTP");
        assert!(!crate::stun::is_stun(&[0x16; 40]), "DTLS");
        assert!(!crate::stun::is_stun(&binding[..10]), "too short");
    }
}
