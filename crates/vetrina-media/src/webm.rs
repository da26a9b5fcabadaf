//! WebM (Matroska, as WebM profiles it) for recordings of VP8 publishers: browsers play VP8 only
//! in WebM, never in MP4. Sans-IO, like [`crate::fmp4`]: the muxer there decides what goes in
//! each cluster; this module writes the bytes, and reads a finished file's layout back to serve
//! it with a duration and cues.
//!
//! The file is written as a live stream: the EBML header, a Segment of unknown size, Info (no
//! duration: not known yet) and Tracks, then one Cluster of known size per fragment (about a
//! second, starting at a video keyframe). A file cut after any cluster (a crash) plays up to it.
//! Once the show has ended, [`Index::head`] gives what goes in front of the file's clusters to make
//! a complete file (Segment with its size, SeekHead, Info with the duration, Tracks, Cues); the
//! clusters are served unchanged.
//!
//! Times are in milliseconds (TimestampScale 1,000,000 ns).

use std::io::{self, Read, Seek, SeekFrom};

use crate::clip::{Piece, push_file};

const EBML: u32 = 0x1A45_DFA3;
const SEGMENT: u32 = 0x1853_8067;
const SEEK_HEAD: u32 = 0x114D_9B74;
const SEEK: u32 = 0x4DBB;
const SEEK_ID: u32 = 0x53AB;
const SEEK_POSITION: u32 = 0x53AC;
const INFO: u32 = 0x1549_A966;
const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
const DURATION: u32 = 0x4489;
const MUXING_APP: u32 = 0x4D80;
const WRITING_APP: u32 = 0x5741;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const CLUSTER: u32 = 0x1F43_B675;
const TIMESTAMP: u32 = 0xE7;
const SIMPLE_BLOCK: u32 = 0xA3;
const CUES: u32 = 0x1C53_BB6B;

/// The video track's number (the audio's is 2).
pub const VIDEO_TRACK: u64 = 1;
pub const AUDIO_TRACK: u64 = 2;
/// A Segment whose size is not known yet (a live stream).
const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// One frame in a cluster: its track, time (ms) and whether a decoder can start at it.
pub struct Block<'a> {
    pub track: u64,
    pub time_ms: u64,
    pub keyframe: bool,
    pub data: &'a [u8],
}

fn id_bytes(id: u32) -> Vec<u8> {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().position(|b| *b != 0).unwrap_or(3);
    bytes[skip..].to_vec()
}

/// An element size as the shortest EBML variable-length integer.
fn size_vint(n: u64) -> Vec<u8> {
    let len = (1..=8u32).find(|l| n < (1u64 << (7 * l)) - 1).unwrap_or(8);
    let marked = n | (1u64 << (7 * len));
    marked.to_be_bytes()[8 - len as usize..].to_vec()
}

fn element(id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = id_bytes(id);
    out.extend(size_vint(body.len() as u64));
    out.extend_from_slice(body);
    out
}

fn master(id: u32, children: &[Vec<u8>]) -> Vec<u8> {
    element(id, &children.concat())
}

fn uint(id: u32, v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().position(|b| *b != 0).unwrap_or(7);
    element(id, &bytes[skip..])
}

/// An unsigned integer always written in 8 bytes, so that sizes do not depend on the value.
fn uint8(id: u32, v: u64) -> Vec<u8> {
    element(id, &v.to_be_bytes())
}

fn float(id: u32, v: f64) -> Vec<u8> {
    element(id, &v.to_be_bytes())
}

fn text(id: u32, s: &str) -> Vec<u8> {
    element(id, s.as_bytes())
}

fn ebml_header() -> Vec<u8> {
    master(
        EBML,
        &[
            uint(0x4286, 1), // EBMLVersion
            uint(0x42F7, 1), // EBMLReadVersion
            uint(0x42F2, 4), // EBMLMaxIDLength
            uint(0x42F3, 8), // EBMLMaxSizeLength
            text(0x4282, "webm"),
            uint(0x4287, 4), // DocTypeVersion
            uint(0x4285, 2), // DocTypeReadVersion
        ],
    )
}

fn info(duration_ms: Option<f64>) -> Vec<u8> {
    let mut children = vec![uint(TIMESTAMP_SCALE, 1_000_000), text(MUXING_APP, "vetrina"), text(WRITING_APP, "vetrina")];
    children.extend(duration_ms.map(|d| float(DURATION, d)));
    master(INFO, &children)
}

/// The start of a recording: the EBML header, a Segment of unknown size, Info and Tracks (VP8
/// video of `width` x `height`, stereo Opus at 48 kHz).
pub fn header(width: u32, height: u32) -> Vec<u8> {
    let video = master(
        TRACK_ENTRY,
        &[
            uint(0xD7, VIDEO_TRACK),   // TrackNumber
            uint(0x73C5, VIDEO_TRACK), // TrackUID
            uint(0x83, 1),             // TrackType: video
            uint(0x9C, 0),             // FlagLacing
            text(0x86, "V_VP8"),
            master(0xE0, &[uint(0xB0, u64::from(width)), uint(0xBA, u64::from(height))]),
        ],
    );
    // OpusHead ("Ogg Encapsulation for the Opus Audio Codec", RFC 7845 5.1): version 1, two
    // channels, no pre-skip (the recording starts mid-stream), 48 kHz, no gain, family 0.
    let mut opus_head = b"OpusHead".to_vec();
    opus_head.extend([1, 2, 0, 0]);
    opus_head.extend(48_000u32.to_le_bytes());
    opus_head.extend([0, 0, 0]);
    let audio = master(
        TRACK_ENTRY,
        &[
            uint(0xD7, AUDIO_TRACK),
            uint(0x73C5, AUDIO_TRACK),
            uint(0x83, 2), // TrackType: audio
            uint(0x9C, 0),
            text(0x86, "A_OPUS"),
            element(0x63A2, &opus_head), // CodecPrivate
            uint(0x56AA, 0),             // CodecDelay
            uint(0x56BB, 80_000_000),    // SeekPreRoll: 80 ms
            master(0xE1, &[float(0xB5, 48_000.0), uint(0x9F, 2)]),
        ],
    );
    let mut out = ebml_header();
    out.extend(id_bytes(SEGMENT));
    out.extend(UNKNOWN_SIZE);
    out.extend(info(None));
    out.extend(master(TRACKS, &[video, audio]));
    out
}

/// Clusters holding `blocks` (in time order): one, unless the blocks span more than a block's
/// time can say relative to its cluster (32.767 s), then a new cluster where one would overflow.
pub fn clusters(blocks: &[Block]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = blocks;
    while let Some(first) = rest.first() {
        let n = rest.iter().position(|b| b.time_ms > first.time_ms + i16::MAX as u64).unwrap_or(rest.len());
        out.extend(cluster(first.time_ms, &rest[..n]));
        rest = &rest[n..];
    }
    out
}

/// One cluster holding `blocks` (in time order, none before `start_ms` nor more than 32.767 s
/// after it).
pub fn cluster(start_ms: u64, blocks: &[Block]) -> Vec<u8> {
    let mut body = uint(TIMESTAMP, start_ms);
    for b in blocks {
        let relative = (b.time_ms as i64 - start_ms as i64).clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16;
        let mut block = size_vint(b.track);
        block.extend(relative.to_be_bytes());
        block.push(if b.keyframe { 0x80 } else { 0 });
        block.extend_from_slice(b.data);
        body.extend(element(SIMPLE_BLOCK, &block));
    }
    element(CLUSTER, &body)
}

/// Whether a VP8 frame is a keyframe, and its picture size when it is (RFC 6386 9.1).
pub fn vp8_keyframe(frame: &[u8]) -> Option<(u32, u32)> {
    if frame.len() < 10 || frame[0] & 1 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u32::from(u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff);
    let height = u32::from(u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff);
    Some((width, height))
}

/// A cluster of a recording: where it is in the file, when it starts, and whether its first
/// video frame is a keyframe (a place to seek to).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterAt {
    pub offset: u64,
    pub len: u64,
    pub time_ms: u64,
    pub keyframe: bool,
    /// The cluster's Timestamp (ms) and where its element ends, from the cluster's start, when
    /// it is the cluster's first child (as we write them): what moving the cluster rewrites.
    pub timestamp: Option<(u64, u64)>,
}

/// The layout of a recording written by this module: what [`Index::head`] needs.
#[derive(Clone, Debug)]
pub struct Index {
    /// The EBML header and the Tracks element, as written.
    pub ebml: Vec<u8>,
    pub tracks: Vec<u8>,
    /// Complete clusters, in file order.
    pub clusters: Vec<ClusterAt>,
    /// Where the recording ends (the last frame's time plus one frame).
    pub end_ms: u64,
}

/// Reads an element's id and size at `at`: (id, size or `None` when unknown, header length).
fn read_header(r: &mut (impl Read + Seek), at: u64) -> io::Result<(u32, Option<u64>, u64)> {
    r.seek(SeekFrom::Start(at))?;
    let mut first = [0u8; 1];
    r.read_exact(&mut first)?;
    let id_len = first[0].leading_zeros() as usize + 1;
    if id_len > 4 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not an EBML element id"));
    }
    let mut id_rest = [0u8; 3];
    r.read_exact(&mut id_rest[..id_len - 1])?;
    let id = id_rest[..id_len - 1].iter().fold(u32::from(first[0]), |acc, b| (acc << 8) | u32::from(*b));
    r.read_exact(&mut first)?;
    let size_len = first[0].leading_zeros() as usize + 1;
    if size_len > 8 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not an EBML element size"));
    }
    let mut size_rest = [0u8; 7];
    r.read_exact(&mut size_rest[..size_len - 1])?;
    let mask = if size_len == 8 { 0 } else { 0xFFu8 >> size_len };
    let size = size_rest[..size_len - 1].iter().fold(u64::from(first[0] & mask), |acc, b| (acc << 8) | u64::from(*b));
    let unknown = size == (1u64 << (7 * size_len)) - 1;
    Ok((id, (!unknown).then_some(size), (id_len + size_len) as u64))
}

fn read_at(r: &mut (impl Read + Seek), at: u64, len: u64) -> io::Result<Vec<u8>> {
    if len > 16 << 20 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "an element too large to read whole"));
    }
    r.seek(SeekFrom::Start(at))?;
    let mut out = vec![0u8; len as usize];
    r.read_exact(&mut out)?;
    Ok(out)
}

/// A block as its header tells: (track, time in ms, keyframe).
type BlockHead = (u64, u64, bool);

/// A cluster's time and its blocks' headers (the frames themselves are not read); with
/// `to_first_video`, only up to its first video block.
fn blocks(r: &mut (impl Read + Seek), body: u64, end: u64, to_first_video: bool) -> io::Result<(u64, Vec<BlockHead>)> {
    let mut at = body;
    let mut start = None;
    let mut out = Vec::new();
    while at < end {
        let (id, size, header) = read_header(r, at)?;
        let size = size.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "an element of unknown size in a cluster"))?;
        match id {
            TIMESTAMP => start = Some(read_at(r, at + header, size.min(8))?.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b))),
            SIMPLE_BLOCK if size >= 4 => {
                let head = read_at(r, at + header, 4)?;
                // Our track numbers are one-byte variable-length integers.
                let track = u64::from(head[0] & 0x7f);
                let relative = i64::from(i16::from_be_bytes([head[1], head[2]]));
                let time = start.unwrap_or(0).saturating_add_signed(relative);
                out.push((track, time, head[3] & 0x80 != 0));
                if to_first_video && track == VIDEO_TRACK {
                    break;
                }
            }
            _ => {}
        }
        at += header + size;
    }
    Ok((start.unwrap_or(0), out))
}

impl Index {
    /// Reads a recording's layout: the header elements and every complete cluster (a cluster cut
    /// by a crash is left out).
    pub fn read(r: &mut (impl Read + Seek)) -> io::Result<Index> {
        let file_len = r.seek(SeekFrom::End(0))?;
        let (id, size, header) = read_header(r, 0)?;
        let size = size.filter(|_| id == EBML).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not a WebM file"))?;
        let ebml = read_at(r, 0, header + size)?;
        let (id, _, segment_header) = read_header(r, header + size)?;
        if id != SEGMENT {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "no Segment after the EBML header"));
        }
        let mut at = header + size + segment_header;
        let (mut tracks, mut clusters) = (None, Vec::new());
        while at < file_len {
            let Ok((id, Some(size), header)) = read_header(r, at) else { break };
            if at + header + size > file_len {
                break; // cut short by a crash
            }
            match id {
                TRACKS => tracks = Some(read_at(r, at, header + size)?),
                CLUSTER => {
                    let (start_ms, blocks) = blocks(r, at + header, at + header + size, true)?;
                    // Seeking lands on the cluster's first video frame: its time is the cue's.
                    let first_video = blocks.iter().find(|b| b.0 == VIDEO_TRACK);
                    let keyframe = first_video.is_some_and(|b| b.2);
                    let time_ms = first_video.filter(|b| b.2).map_or(start_ms, |b| b.1);
                    let timestamp = match read_header(r, at + header)? {
                        (TIMESTAMP, Some(ts_size), ts_header) => Some((start_ms, header + ts_header + ts_size)),
                        _ => None,
                    };
                    clusters.push(ClusterAt { offset: at, len: header + size, time_ms, keyframe, timestamp });
                }
                _ => {}
            }
            at += header + size;
        }
        let tracks = tracks.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "the recording has no Tracks"))?;
        let end_ms = match clusters.last() {
            Some(last) => {
                let (_, _, header) = read_header(r, last.offset)?;
                let (_, cluster_blocks) = blocks(r, last.offset + header, last.offset + last.len, false)?;
                let video: Vec<u64> = cluster_blocks.iter().filter(|b| b.0 == VIDEO_TRACK).map(|b| b.1).collect();
                let frame = match video.as_slice() {
                    [.., a, b] if b > a => b - a,
                    _ => 33,
                };
                cluster_blocks.iter().map(|b| b.1).max().unwrap_or(last.time_ms).saturating_add(frame)
            }
            None => 0,
        };
        Ok(Index { ebml, tracks, clusters, end_ms })
    }

    /// The bytes to serve in front of the clusters (from the first cluster's offset to the last
    /// one's end, unchanged) to make a complete WebM file: the EBML header, the Segment with its
    /// size, a SeekHead, Info with the duration, Tracks and Cues (one per cluster that starts at
    /// a keyframe).
    pub fn head(&self) -> Option<Vec<u8>> {
        let (first, last) = (self.clusters.first()?, self.clusters.last()?);
        let body_len = last.offset + last.len - first.offset;
        let info = info(Some(self.end_ms as f64));
        let cues_at = |positions: &[u64]| {
            let points: Vec<Vec<u8>> = self
                .clusters
                .iter()
                .zip(positions)
                .filter(|(c, _)| c.keyframe)
                .map(|(c, p)| master(0xBB, &[uint8(0xB3, c.time_ms), master(0xB7, &[uint(0xF7, VIDEO_TRACK), uint8(0xF1, *p)])]))
                .collect();
            master(CUES, &points)
        };
        let seek_head = |info_at: u64, tracks_at: u64, cues_at: u64| {
            let seek = |id: u32, position: u64| master(SEEK, &[element(SEEK_ID, &id_bytes(id)), uint8(SEEK_POSITION, position)]);
            master(SEEK_HEAD, &[seek(INFO, info_at), seek(TRACKS, tracks_at), seek(CUES, cues_at)])
        };
        // Sizes do not depend on the positions (8-byte integers): measure with zeros, then write.
        let seek_len = seek_head(0, 0, 0).len() as u64;
        let cues_len = cues_at(&vec![0; self.clusters.len()]).len() as u64;
        let (info_at, tracks_at) = (seek_len, seek_len + info.len() as u64);
        let cues_pos = tracks_at + self.tracks.len() as u64;
        let clusters_at = cues_pos + cues_len;
        let positions: Vec<u64> = self.clusters.iter().map(|c| clusters_at + c.offset - first.offset).collect();
        let mut inside = seek_head(info_at, tracks_at, cues_pos);
        inside.extend(info);
        inside.extend(&self.tracks);
        inside.extend(cues_at(&positions));
        let mut out = self.ebml.clone();
        out.extend(id_bytes(SEGMENT));
        // The Segment's size in 8 bytes.
        let size = inside.len() as u64 + body_len;
        out.push(0x01);
        out.extend(&size.to_be_bytes()[1..]);
        out.extend(inside);
        Some(out)
    }
}

/// Lays `parts` (each recording's index, and where its media time 0 falls in the first part's,
/// in ms) end to end as one recording, like [`crate::clip::join`]: the head to serve (the first
/// part's header and tracks, the whole duration, cues for every part) and the clusters, each
/// later part's with its Timestamp moved. `None` without clusters, or when a later part's
/// cluster does not start with its Timestamp.
pub fn join(parts: &[(&Index, i64)]) -> Option<(Vec<u8>, Vec<Piece>)> {
    let (first, _) = parts.first()?;
    let (mut clusters, mut body) = (Vec::new(), Vec::new());
    let (mut at, mut end_ms) = (0u64, 0u64);
    for (k, (index, start_ms)) in parts.iter().enumerate() {
        let Some(lead) = index.clusters.first() else { continue };
        // As in `clip::join`: a later part starts where its clock says, even after empty ones.
        let shift = if k == 0 { 0 } else { ((*start_ms).max(0) as u64).max(end_ms.saturating_sub(lead.time_ms)) };
        for c in &index.clusters {
            let (len, timestamp) = if k != 0 {
                let (time, ts_end) = c.timestamp?;
                let moved = time.checked_add(shift)?;
                let ts = uint(TIMESTAMP, moved);
                let rest = c.len.checked_sub(ts_end)?;
                let mut head = id_bytes(CLUSTER);
                head.extend(size_vint(rest + ts.len() as u64));
                let ts_end = (head.len() + ts.len()) as u64;
                head.extend(ts);
                body.push(Piece::Bytes(head));
                push_file(&mut body, k, c.offset + c.len - rest, rest);
                (ts_end + rest, Some((moved, ts_end)))
            } else {
                push_file(&mut body, k, c.offset, c.len);
                (c.len, c.timestamp)
            };
            clusters.push(ClusterAt { offset: at, len, time_ms: c.time_ms.saturating_add(shift), keyframe: c.keyframe, timestamp });
            at += len;
        }
        end_ms = end_ms.max(index.end_ms.saturating_add(shift));
    }
    let whole = Index { ebml: first.ebml.clone(), tracks: first.tracks.clone(), clusters, end_ms };
    Some((whole.head()?, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_too_far_apart_start_a_new_cluster() {
        let block = |time_ms| Block { track: AUDIO_TRACK, time_ms, keyframe: true, data: &[1, 2] };
        let out = clusters(&[block(1_000), block(2_000), block(40_000), block(41_000)]);
        let mut file = header(2, 2);
        file.extend(&out);
        let index = Index::read(&mut std::io::Cursor::new(&file)).unwrap();
        assert_eq!(index.clusters.iter().map(|c| c.time_ms).collect::<Vec<_>>(), [1_000, 40_000]);
        assert_eq!(index.end_ms, 41_000 + 33);
    }

    #[test]
    fn parts_join_in_the_shows_media_time() {
        let key = [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01, 0xAA];
        let part = |seconds: u64| {
            let mut file = header(640, 360);
            for c in 0..seconds {
                let blocks: Vec<Block> =
                    (0..30u64).map(|i| Block { track: VIDEO_TRACK, time_ms: c * 1000 + i * 33, keyframe: i == 0, data: &key }).collect();
                file.extend(cluster(c * 1000, &blocks));
            }
            file
        };
        let (a, b) = (part(3), part(200));
        let (ia, ib) = (Index::read(&mut std::io::Cursor::new(&a)).unwrap(), Index::read(&mut std::io::Cursor::new(&b)).unwrap());
        // The second part came 10 s after the first: its clusters' times need more bytes.
        let (head, body) = join(&[(&ia, 0), (&ib, 10_000)]).unwrap();
        let file = crate::clip::tests::assemble(&[&a, &b], &head, &body);
        let whole = Index::read(&mut std::io::Cursor::new(&file)).unwrap();
        let times: Vec<u64> = whole.clusters.iter().map(|c| c.time_ms).collect();
        let expected: Vec<u64> = (0..3).chain(10..210).map(|s| s * 1000).collect();
        assert_eq!(times, expected);
        assert_eq!(whole.end_ms, ib.end_ms + 10_000);
        let (_, size, segment_header) = read_header(&mut std::io::Cursor::new(&file), whole.ebml.len() as u64).unwrap();
        assert_eq!(whole.ebml.len() as u64 + segment_header + size.unwrap(), file.len() as u64, "the Segment holds both parts");
        assert!(whole.clusters.iter().all(|c| c.keyframe && c.timestamp.is_some()));
    }

    #[test]
    fn a_huge_cluster_timestamp_is_no_panic() {
        // Found by the fuzzer: a cluster Timestamp near 2^64 plus a block's relative time.
        let crash = include_bytes!("../testdata/webm-timestamp-overflow.bin");
        if let Ok(index) = Index::read(&mut std::io::Cursor::new(&crash[..])) {
            let _ = index.head();
            let _ = join(&[(&index, 0), (&index, 5_000)]);
        }
    }

    #[test]
    fn sizes_are_ebml_integers() {
        assert_eq!(size_vint(0), [0x80]);
        assert_eq!(size_vint(126), [0xFE]);
        assert_eq!(size_vint(127), [0x40, 0x7F], "all ones in one byte means unknown: use two");
        assert_eq!(size_vint(300), [0x41, 0x2C]);
        assert_eq!(id_bytes(CLUSTER), [0x1F, 0x43, 0xB6, 0x75]);
        assert_eq!(id_bytes(TIMESTAMP), [0xE7]);
    }

    #[test]
    fn a_written_recording_reads_back_and_gets_cues() {
        let key = [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01, 0xAA];
        assert_eq!(vp8_keyframe(&key), Some((640, 360)));
        assert_eq!(vp8_keyframe(&[0x11, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]), None, "an interframe");
        let mut file = header(640, 360);
        for c in 0..3u64 {
            let blocks: Vec<Block> = (0..30u64)
                .map(|i| Block {
                    track: VIDEO_TRACK,
                    time_ms: c * 1000 + i * 33,
                    keyframe: i == 0,
                    data: if i == 0 { &key } else { &key[..4] },
                })
                .collect();
            file.extend(cluster(c * 1000, &blocks));
        }
        let whole = file.len() as u64;
        file.extend(&cluster(3000, &[Block { track: AUDIO_TRACK, time_ms: 3000, keyframe: true, data: &[1, 2, 3] }])[..10]);
        let index = Index::read(&mut std::io::Cursor::new(&file)).unwrap();
        assert_eq!(index.clusters.len(), 3, "the cluster cut short is left out");
        assert_eq!(index.clusters.iter().map(|c| c.time_ms).collect::<Vec<_>>(), [0, 1000, 2000]);
        assert!(index.clusters.iter().all(|c| c.keyframe));
        assert_eq!(index.end_ms, 2000 + 29 * 33 + 33);
        let head = index.head().unwrap();
        let body = &file[index.clusters[0].offset as usize..whole as usize];
        let mut served = head.clone();
        served.extend(body);
        // The Segment's size covers exactly what follows it.
        let again = Index::read(&mut std::io::Cursor::new(&served)).unwrap();
        assert_eq!(again.clusters.len(), 3);
        let (_, size, header) = read_header(&mut std::io::Cursor::new(&served), again.ebml.len() as u64).unwrap();
        assert_eq!(again.ebml.len() as u64 + header + size.unwrap(), served.len() as u64);
    }
}
