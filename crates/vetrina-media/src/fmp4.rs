//! A fragmented MP4 writer for recordings (ISO/IEC 14496-12, with H.264 per 14496-15 and Opus
//! per "Encapsulation of Opus in ISO Base Media File Format"). Sans-IO: frames and their times go
//! in, bytes to append come out. A VP8 publisher's recording takes the same path into WebM
//! clusters instead (browsers play VP8 only in WebM: [`crate::webm`]).
//!
//! The file is an init segment (`ftyp` + `moov` with empty sample tables) followed by `moof` +
//! `mdat` fragments of about a second, each video fragment starting at a keyframe. A file cut
//! after any fragment (a crash) plays up to that fragment.
//!
//! Time: media time 0 is the recording's first video keyframe. A sample's decode time follows
//! its RTP clock while the publisher stays the same, and the wall clock across publishers (a host
//! who reconnects continues the same file, with the gap as silence/freeze), so media time stays
//! tied to wall time: `wall = started + media time`.

use std::time::{Duration, Instant};

use crate::{h264, webm};

pub const VIDEO_TIMESCALE: u32 = 90_000;
pub const AUDIO_TIMESCALE: u32 = 48_000;
const VIDEO_TRACK: u32 = 1;
const AUDIO_TRACK: u32 = 2;
/// A fragment is cut at the first keyframe after this much video.
const FRAGMENT: Duration = Duration::from_secs(1);
/// Without keyframes, a fragment is cut anyway after this much, to bound memory.
const MAX_FRAGMENT: Duration = Duration::from_secs(4);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// H.264 video (Annex B access units).
    Video,
    /// VP8 video (recorded as WebM).
    Vp8,
    /// Opus audio.
    Audio,
}

/// What a recording file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// Fragmented MP4: H.264 and Opus.
    Mp4,
    /// WebM: VP8 and Opus.
    WebM,
}

impl Container {
    /// The container a recording of this video takes.
    pub fn for_video(kind: Kind) -> Container {
        if kind == Kind::Vp8 { Container::WebM } else { Container::Mp4 }
    }

    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::WebM => "webm",
        }
    }
}

struct Sample {
    data: Vec<u8>,
    decode: u64,
    keyframe: bool,
}

struct Track {
    timescale: u32,
    /// Samples whose duration is known (the next one arrived), not yet written.
    ready: Vec<(Sample, u32)>,
    /// The newest sample: its duration is known when the next one comes.
    last: Option<Sample>,
    /// The RTP time of `last`, while the same publisher sends.
    last_rtp: Option<u64>,
    default_duration: u32,
    /// Where the written samples end: new samples never start before it.
    end: u64,
}

impl Track {
    fn new(timescale: u32, default_duration: u32) -> Track {
        Track { timescale, ready: Vec::new(), last: None, last_rtp: None, default_duration, end: 0 }
    }

    fn ready_span(&self) -> u64 {
        self.ready.iter().map(|(_, d)| u64::from(*d)).sum()
    }
}

pub struct Fmp4Recorder {
    container: Container,
    started: Option<Instant>,
    sps: Vec<u8>,
    pps: Vec<u8>,
    size: (u32, u32),
    video: Track,
    audio: Track,
    sequence: u32,
}

impl Default for Fmp4Recorder {
    fn default() -> Self {
        Fmp4Recorder::new()
    }
}

impl Fmp4Recorder {
    /// A fragmented MP4 recording (H.264 and Opus).
    pub fn new() -> Fmp4Recorder {
        Fmp4Recorder::with(Container::Mp4)
    }

    /// A recording into `container`: video frames of the other codec are left out.
    pub fn with(container: Container) -> Fmp4Recorder {
        Fmp4Recorder {
            container,
            started: None,
            sps: Vec::new(),
            pps: Vec::new(),
            size: (0, 0),
            video: Track::new(VIDEO_TIMESCALE, 3000),
            audio: Track::new(AUDIO_TIMESCALE, 960),
            sequence: 0,
        }
    }

    pub fn container(&self) -> Container {
        self.container
    }

    /// When media time 0 was, once the first keyframe arrived.
    pub fn started(&self) -> Option<Instant> {
        self.started
    }

    /// A new publisher session: its RTP clocks are new, so the next samples are placed by wall time.
    pub fn resume(&mut self) {
        self.video.last_rtp = None;
        self.audio.last_rtp = None;
    }

    /// Takes one frame (`rtp` in the track's timescale: 90 kHz video, 48 kHz Opus) received at
    /// `wall`, and returns the bytes to append to the file (often none).
    pub fn push(&mut self, kind: Kind, rtp: u64, wall: Instant, frame: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if kind != Kind::Audio && Container::for_video(kind) != self.container {
            return out;
        }
        let (data, keyframe) = match kind {
            Kind::Video => {
                let units = h264::nal_units(frame);
                let keyframe = units.iter().any(|n| h264::nal_type(n) == 5);
                for n in &units {
                    match h264::nal_type(n) {
                        7 => {
                            if let Some(size) = h264::sps_size(n) {
                                self.sps = n.to_vec();
                                self.size = size;
                            }
                        }
                        8 => self.pps = n.to_vec(),
                        _ => {}
                    }
                }
                if self.started.is_none() {
                    if !keyframe || self.sps.is_empty() || self.pps.is_empty() {
                        return out;
                    }
                    self.started = Some(wall);
                    out.extend(self.init_segment());
                }
                let mut avcc = Vec::with_capacity(frame.len() + 16);
                for n in units.iter().filter(|n| !matches!(h264::nal_type(n), 9 | 0)) {
                    avcc.extend((n.len() as u32).to_be_bytes());
                    avcc.extend_from_slice(n);
                }
                (avcc, keyframe)
            }
            Kind::Vp8 => {
                let size = webm::vp8_keyframe(frame);
                if let Some(size) = size {
                    self.size = size;
                }
                if self.started.is_none() {
                    if size.is_none() {
                        return out;
                    }
                    self.started = Some(wall);
                    out.extend(self.init_segment());
                }
                (frame.to_vec(), size.is_some())
            }
            Kind::Audio => {
                let Some(started) = self.started else { return out };
                if wall < started {
                    return out;
                }
                (frame.to_vec(), true)
            }
        };
        if data.is_empty() {
            return out;
        }
        let started = self.started.unwrap_or(wall);
        let track = match kind {
            Kind::Video | Kind::Vp8 => &mut self.video,
            Kind::Audio => &mut self.audio,
        };
        let wall_decode = wall.saturating_duration_since(started).as_micros() as u64 * u64::from(track.timescale) / 1_000_000;
        let decode = match (&track.last, track.last_rtp) {
            // The same publisher: follow its clock, unless it jumps (more than 10 s either way).
            (Some(last), Some(last_rtp)) if rtp >= last_rtp && rtp - last_rtp < 10 * u64::from(track.timescale) => {
                last.decode + (rtp - last_rtp).max(1)
            }
            (Some(last), _) => wall_decode.max(last.decode + 1),
            (None, _) => wall_decode.max(track.end),
        };
        if let Some(last) = track.last.take() {
            let duration = (decode - last.decode).min(u64::from(u32::MAX)) as u32;
            track.ready.push((last, duration));
        }
        track.last = Some(Sample { data, decode, keyframe });
        track.last_rtp = Some(rtp);

        let span = Duration::from_micros(self.video.ready_span() * 1_000_000 / u64::from(VIDEO_TIMESCALE));
        let audio_span = Duration::from_micros(self.audio.ready_span() * 1_000_000 / u64::from(AUDIO_TIMESCALE));
        // Cut at keyframes; without video (a camera turned off), audio alone bounds a fragment.
        let audio_only_cut = audio_span >= MAX_FRAGMENT;
        if audio_only_cut && self.container == Container::WebM {
            // WebM clusters follow each other in time: the last video frame goes out now rather
            // than in a later cluster (a WebM block needs no duration; the next frame is placed
            // by the wall clock).
            if let Some(last) = self.video.last.take() {
                self.video.end = last.decode + u64::from(self.video.default_duration);
                self.video.ready.push((last, self.video.default_duration));
                self.video.last_rtp = None;
            }
        }
        if (kind != Kind::Audio && ((keyframe && span >= FRAGMENT) || span >= MAX_FRAGMENT)) || audio_only_cut {
            out.extend(self.fragment());
        }
        out
    }

    /// Writes what is left (at the end of the recording).
    pub fn finish(&mut self) -> Vec<u8> {
        if self.started.is_none() {
            return Vec::new();
        }
        for track in [&mut self.video, &mut self.audio] {
            if let Some(last) = track.last.take() {
                let duration = track.ready.last().map_or(track.default_duration, |(_, d)| *d);
                track.end = last.decode + u64::from(duration);
                track.ready.push((last, duration));
            }
            track.last_rtp = None;
        }
        self.fragment()
    }

    fn init_segment(&self) -> Vec<u8> {
        if self.container == Container::WebM {
            return webm::header(self.size.0, self.size.1);
        }
        let mut out = mp4_box(b"ftyp", |b| {
            b.extend(b"iso6");
            b.extend(512u32.to_be_bytes());
            for brand in [b"iso6", b"cmfc", b"isom", b"mp41"] {
                b.extend(brand);
            }
        });
        out.extend(mp4_box(b"moov", |b| {
            b.extend(full_box(b"mvhd", 0, 0, |b| {
                b.extend([0u8; 8]); // creation, modification
                b.extend(1000u32.to_be_bytes());
                b.extend(0u32.to_be_bytes()); // duration: unknown (fragmented)
                b.extend(0x0001_0000u32.to_be_bytes());
                b.extend(0x0100u16.to_be_bytes());
                b.extend([0u8; 10]);
                b.extend(MATRIX);
                b.extend([0u8; 24]);
                b.extend(3u32.to_be_bytes()); // next track id
            }));
            b.extend(self.trak(Kind::Video));
            b.extend(self.trak(Kind::Audio));
            b.extend(mp4_box(b"mvex", |b| {
                for track in [VIDEO_TRACK, AUDIO_TRACK] {
                    b.extend(full_box(b"trex", 0, 0, |b| {
                        b.extend(track.to_be_bytes());
                        b.extend(1u32.to_be_bytes());
                        b.extend([0u8; 12]);
                    }));
                }
            }));
        }));
        out
    }

    fn trak(&self, kind: Kind) -> Vec<u8> {
        let (track_id, timescale, handler, name): (u32, u32, &[u8; 4], &[u8]) = match kind {
            Kind::Video | Kind::Vp8 => (VIDEO_TRACK, VIDEO_TIMESCALE, b"vide", b"Vetrina video\0"),
            Kind::Audio => (AUDIO_TRACK, AUDIO_TIMESCALE, b"soun", b"Vetrina audio\0"),
        };
        mp4_box(b"trak", |b| {
            b.extend(full_box(b"tkhd", 0, 3, |b| {
                b.extend([0u8; 8]);
                b.extend(track_id.to_be_bytes());
                b.extend([0u8; 4]);
                b.extend(0u32.to_be_bytes());
                b.extend([0u8; 8]);
                b.extend(0u16.to_be_bytes()); // layer
                b.extend(0u16.to_be_bytes()); // alternate group
                b.extend(if kind == Kind::Audio { 0x0100u16 } else { 0 }.to_be_bytes());
                b.extend([0u8; 2]);
                b.extend(MATRIX);
                let (w, h) = if kind == Kind::Video { self.size } else { (0, 0) };
                b.extend((w << 16).to_be_bytes());
                b.extend((h << 16).to_be_bytes());
            }));
            b.extend(mp4_box(b"mdia", |b| {
                b.extend(full_box(b"mdhd", 0, 0, |b| {
                    b.extend([0u8; 8]);
                    b.extend(timescale.to_be_bytes());
                    b.extend(0u32.to_be_bytes());
                    b.extend(0x55c4u16.to_be_bytes()); // "und"
                    b.extend(0u16.to_be_bytes());
                }));
                b.extend(full_box(b"hdlr", 0, 0, |b| {
                    b.extend([0u8; 4]);
                    b.extend(handler);
                    b.extend([0u8; 12]);
                    b.extend(name);
                }));
                b.extend(mp4_box(b"minf", |b| {
                    match kind {
                        Kind::Video | Kind::Vp8 => b.extend(full_box(b"vmhd", 0, 1, |b| b.extend([0u8; 8]))),
                        Kind::Audio => b.extend(full_box(b"smhd", 0, 0, |b| b.extend([0u8; 4]))),
                    }
                    b.extend(mp4_box(b"dinf", |b| {
                        b.extend(full_box(b"dref", 0, 0, |b| {
                            b.extend(1u32.to_be_bytes());
                            b.extend(full_box(b"url ", 0, 1, |_| {}));
                        }));
                    }));
                    b.extend(mp4_box(b"stbl", |b| {
                        b.extend(full_box(b"stsd", 0, 0, |b| {
                            b.extend(1u32.to_be_bytes());
                            b.extend(match kind {
                                Kind::Video | Kind::Vp8 => self.avc1(),
                                Kind::Audio => opus_entry(),
                            });
                        }));
                        for kind in [b"stts", b"stsc", b"stco"] {
                            b.extend(full_box(kind, 0, 0, |b| b.extend(0u32.to_be_bytes())));
                        }
                        b.extend(full_box(b"stsz", 0, 0, |b| b.extend([0u8; 8])));
                    }));
                }));
            }));
        })
    }

    fn avc1(&self) -> Vec<u8> {
        mp4_box(b"avc1", |b| {
            b.extend([0u8; 6]);
            b.extend(1u16.to_be_bytes()); // data reference index
            b.extend([0u8; 16]);
            b.extend((self.size.0 as u16).to_be_bytes());
            b.extend((self.size.1 as u16).to_be_bytes());
            b.extend(0x0048_0000u32.to_be_bytes());
            b.extend(0x0048_0000u32.to_be_bytes());
            b.extend([0u8; 4]);
            b.extend(1u16.to_be_bytes()); // frame count
            b.extend([0u8; 32]); // compressor name
            b.extend(0x0018u16.to_be_bytes());
            b.extend((-1i16).to_be_bytes());
            b.extend(mp4_box(b"avcC", |b| {
                let profile = self.sps.get(1).copied().unwrap_or(66);
                b.push(1);
                b.push(profile);
                b.push(self.sps.get(2).copied().unwrap_or(0));
                b.push(self.sps.get(3).copied().unwrap_or(31));
                b.push(0xff); // 4-byte NAL lengths
                b.push(0xe1); // one SPS
                b.extend((self.sps.len() as u16).to_be_bytes());
                b.extend(&self.sps);
                b.push(1);
                b.extend((self.pps.len() as u16).to_be_bytes());
                b.extend(&self.pps);
                if matches!(profile, 100 | 110 | 122 | 144) {
                    // 4:2:0, 8-bit, no SPS extensions (what WebRTC encoders and OBS send).
                    b.extend([0xfd, 0xf8, 0xf8, 0x00]);
                }
            }));
        })
    }

    /// One `moof` + `mdat` with every sample whose duration is known.
    fn fragment(&mut self) -> Vec<u8> {
        let video: Vec<(Sample, u32)> = std::mem::take(&mut self.video.ready);
        let audio: Vec<(Sample, u32)> = std::mem::take(&mut self.audio.ready);
        if video.is_empty() && audio.is_empty() {
            return Vec::new();
        }
        if self.container == Container::WebM {
            return webm_cluster(&video, &audio);
        }
        self.sequence += 1;
        let tracks = [(VIDEO_TRACK, &video), (AUDIO_TRACK, &audio)];
        let moof = |offsets: [u32; 2]| {
            mp4_box(b"moof", |b| {
                b.extend(full_box(b"mfhd", 0, 0, |b| b.extend(self.sequence.to_be_bytes())));
                for (i, (track, samples)) in tracks.iter().enumerate() {
                    let Some((first, _)) = samples.first() else { continue };
                    b.extend(mp4_box(b"traf", |b| {
                        b.extend(full_box(b"tfhd", 0, 0x02_0000, |b| b.extend(track.to_be_bytes())));
                        b.extend(full_box(b"tfdt", 1, 0, |b| b.extend(first.decode.to_be_bytes())));
                        b.extend(full_box(b"trun", 0, 0x0701, |b| {
                            b.extend((samples.len() as u32).to_be_bytes());
                            b.extend(offsets[i].to_be_bytes());
                            for (s, duration) in samples.iter() {
                                b.extend(duration.to_be_bytes());
                                b.extend((s.data.len() as u32).to_be_bytes());
                                let flags: u32 = if s.keyframe { 0x0200_0000 } else { 0x0101_0000 };
                                b.extend(flags.to_be_bytes());
                            }
                        }));
                    }));
                }
            })
        };
        let moof_len = moof([0, 0]).len() as u32;
        let video_len: u32 = video.iter().map(|(s, _)| s.data.len() as u32).sum();
        let mut out = moof([moof_len + 8, moof_len + 8 + video_len]);
        let audio_len: u32 = audio.iter().map(|(s, _)| s.data.len() as u32).sum();
        out.extend((8 + video_len + audio_len).to_be_bytes());
        out.extend(b"mdat");
        for (s, _) in video.iter().chain(audio.iter()) {
            out.extend(&s.data);
        }
        out
    }
}

/// Video and audio samples as one WebM cluster, in time order (milliseconds).
fn webm_cluster(video: &[(Sample, u32)], audio: &[(Sample, u32)]) -> Vec<u8> {
    let ms = |decode: u64, timescale: u32| decode * 1000 / u64::from(timescale);
    let mut blocks: Vec<webm::Block> = video
        .iter()
        .map(|(s, _)| webm::Block { track: webm::VIDEO_TRACK, time_ms: ms(s.decode, VIDEO_TIMESCALE), keyframe: s.keyframe, data: &s.data })
        .chain(audio.iter().map(|(s, _)| webm::Block {
            track: webm::AUDIO_TRACK,
            time_ms: ms(s.decode, AUDIO_TIMESCALE),
            keyframe: true,
            data: &s.data,
        }))
        .collect();
    // Stable: a video frame stays before the audio of the same millisecond.
    blocks.sort_by_key(|b| b.time_ms);
    webm::clusters(&blocks)
}

const MATRIX: [u8; 36] = [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0];

fn opus_entry() -> Vec<u8> {
    mp4_box(b"Opus", |b| {
        b.extend([0u8; 6]);
        b.extend(1u16.to_be_bytes());
        b.extend([0u8; 8]);
        b.extend(2u16.to_be_bytes()); // channels
        b.extend(16u16.to_be_bytes()); // sample size
        b.extend([0u8; 4]);
        b.extend((AUDIO_TIMESCALE << 16).to_be_bytes());
        b.extend(mp4_box(b"dOps", |b| {
            b.push(0); // version
            b.push(2); // output channels
            b.extend(0u16.to_be_bytes()); // pre-skip: the recording starts mid-stream
            b.extend(48_000u32.to_be_bytes());
            b.extend(0i16.to_be_bytes());
            b.push(0); // channel mapping family
        }));
    })
}

fn mp4_box(kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = vec![0, 0, 0, 0];
    b.extend(kind);
    body(&mut b);
    let len = b.len() as u32;
    b[..4].copy_from_slice(&len.to_be_bytes());
    b
}

fn full_box(kind: &[u8; 4], version: u8, flags: u32, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    mp4_box(kind, |b| {
        b.push(version);
        b.extend(&flags.to_be_bytes()[1..]);
        body(b);
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The top-level boxes of a file: (kind, size).
    fn boxes(mut data: &[u8]) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        while data.len() >= 8 {
            let size = u32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
            out.push((String::from_utf8_lossy(&data[4..8]).to_string(), size));
            data = &data[size.min(data.len())..];
        }
        out
    }

    /// A keyframe (SPS, PPS, IDR) or a delta frame.
    pub fn frame(key: bool) -> Vec<u8> {
        if key { keyframe() } else { vec![0, 0, 0, 1, 0x41, 0x9a, 0x22] }
    }

    pub fn keyframe() -> Vec<u8> {
        let mut f = vec![0, 0, 0, 1];
        f.extend([
            0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf2,
            0x3c, 0x58, 0xba, 0x80,
        ]);
        f.extend([0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 0, 1, 0x65, 0x88, 0x84, 0x21]);
        f
    }

    #[test]
    fn a_camera_turned_off_keeps_webm_clusters_in_time_order() {
        let key = [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01, 0xAA];
        let delta = [0x11, 0x02, 0x00, 0xBB];
        let t0 = Instant::now();
        let mut r = Fmp4Recorder::with(Container::WebM);
        let mut file = Vec::new();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // Two seconds of video and audio, six of audio alone (the camera is off), then both.
        let (mut video_rtp, mut next_key) = (0u64, 0u64);
        for ms in (0..9_600u64).step_by(10) {
            if ms % 20 == 0 {
                file.extend(r.push(Kind::Audio, ms * 48, at(ms), &[0xfc, 1]));
            }
            let camera_on = !(2_000..8_000).contains(&ms);
            if camera_on && ms % 30 == 0 {
                let keyframe = ms >= next_key;
                if keyframe {
                    next_key = ms + 1_000;
                }
                file.extend(r.push(Kind::Vp8, video_rtp, at(ms), if keyframe { &key } else { &delta }));
                video_rtp += 2_700;
            }
        }
        file.extend(r.finish());
        let index = crate::webm::Index::read(&mut std::io::Cursor::new(&file)).unwrap();
        let times: Vec<u64> = index.clusters.iter().map(|c| c.time_ms).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "clusters in time order: {times:?}");
        assert!(
            index.clusters.iter().any(|c| c.keyframe && c.time_ms == 8_010),
            "the camera's return is a place to seek to: {:?}",
            index.clusters
        );
        assert!(index.end_ms >= 9_500, "{}", index.end_ms);
    }

    #[test]
    fn fragments_start_at_keyframes() {
        let t0 = Instant::now();
        let mut r = Fmp4Recorder::new();
        assert!(r.push(Kind::Audio, 0, t0, &[1, 2, 3]).is_empty(), "nothing before the first keyframe");
        assert!(r.push(Kind::Video, 1000, t0, &[0, 0, 0, 1, 0x41, 1]).is_empty());
        let mut file = r.push(Kind::Video, 3000, t0, &keyframe());
        assert_eq!(boxes(&file).iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["ftyp", "moov"]);
        assert_eq!(r.size, (640, 360));
        for i in 1..=60u64 {
            let wall = t0 + Duration::from_millis(i * 33);
            let frame = if i % 30 == 0 { keyframe() } else { vec![0, 0, 0, 1, 0x41, i as u8] };
            file.extend(r.push(Kind::Video, 3000 + i * 3000, wall, &frame));
            file.extend(r.push(Kind::Audio, i * 1600, wall, &[0xfc, 1, 2]));
        }
        let kinds: Vec<String> = boxes(&file).into_iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, ["ftyp", "moov", "moof", "mdat", "moof", "mdat"], "a fragment a second, cut at keyframes");
        file.extend(r.finish());
        assert_eq!(boxes(&file).len(), 8);
        assert_eq!(boxes(&file).iter().map(|(_, n)| n).sum::<usize>(), file.len(), "boxes tile the file");
        // A new publisher's clock starts anywhere: times continue from the wall clock.
        r.resume();
        assert!(r.push(Kind::Video, 5, t0 + Duration::from_secs(10), &keyframe()).is_empty());
        assert_eq!(r.video.last.as_ref().unwrap().decode, 10 * 90_000);
    }
}
