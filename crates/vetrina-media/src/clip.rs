//! Clips of a recording, cut on keyframes without re-encoding.
//!
//! A recording is a fragmented MP4 (ours, see [`crate::fmp4`], or any other with an init
//! segment and `moof` + `mdat` fragments). [`Index::read`] walks its top-level boxes, reading only
//! the small ones (`moov`, `moof`) and skipping over media data; [`Index::cut`] writes a new file
//! of the init segment and the fragments that cover the range, from the keyframe at or before its
//! start, with their decode times moved so the clip starts at 0.
//!
//! The walker never trusts a size it reads: boxes that run past the end of the file, are smaller
//! than their header or nest too deep end the walk with an error, never a panic.

use std::io::{self, Read, Seek, SeekFrom, Write};

/// Boxes read into memory whole (`moov`, `moof`) are at most this big.
const MAX_META_BOX: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    #[error("the recording cannot be read: {0}")]
    Io(#[from] io::Error),
    #[error("the recording is not a fragmented MP4: {0}")]
    Format(String),
    #[error("{0}")]
    Range(String),
}

fn bad(what: impl Into<String>) -> ClipError {
    ClipError::Format(what.into())
}

/// One `moof` + `mdat` pair.
#[derive(Clone, Debug, PartialEq)]
pub struct Fragment {
    /// Where the `moof` starts in the file.
    pub offset: u64,
    /// Bytes of the `moof`, the `mdat` and anything between them.
    pub len: u64,
    /// Media time of its first video sample (or of its first sample, without video), in ms.
    pub start_ms: i64,
    /// Its first video sample is a keyframe (a clip may start here).
    pub keyframe: bool,
    /// Each track's samples in it: (track id, decode time, duration), in the track's timescale.
    pub runs: Vec<(u32, u64, u64)>,
    /// Where the fields that place it are, from its start: the `mfhd` sequence number, and each
    /// track's `tfdt` decode time (track id, where, whether 64-bit).
    pub sequence_at: Option<u64>,
    pub decode_at: Vec<(u32, u64, bool)>,
}

#[derive(Clone, Debug)]
struct TrackInfo {
    id: u32,
    timescale: u32,
    video: bool,
}

/// Where a recording's init segment and fragments are.
#[derive(Clone, Debug)]
pub struct Index {
    /// The init segment: bytes from 0 to the end of the `moov` (a `sidx` or other boxes after
    /// it are not kept: [`Index::segment_index`] writes a new index).
    pub init_len: u64,
    pub fragments: Vec<Fragment>,
    /// Media time at the end of the last fragment, in ms.
    pub end_ms: i64,
    tracks: Vec<TrackInfo>,
}

/// What [`Index::cut`] wrote: the range of the recording the clip covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    pub start_ms: i64,
    pub end_ms: i64,
    pub bytes: u64,
}

/// A box header: type, where its body starts, where it ends.
struct Header {
    kind: [u8; 4],
    body: u64,
    end: u64,
}

fn read_header(file: &mut (impl Read + Seek), at: u64, file_len: u64) -> Result<Option<Header>, ClipError> {
    if at + 8 > file_len {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(at))?;
    let mut h = [0u8; 8];
    file.read_exact(&mut h)?;
    let size = u64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]));
    let kind = [h[4], h[5], h[6], h[7]];
    let (body, end) = match size {
        0 => (at + 8, file_len),
        1 => {
            let mut large = [0u8; 8];
            file.read_exact(&mut large)?;
            let size = u64::from_be_bytes(large);
            (at + 16, at.checked_add(size).ok_or_else(|| bad("a box size overflows"))?)
        }
        n => (at + 8, at + n),
    };
    if end < body {
        return Err(bad(format!("box {} at {at} is smaller than its header", name(&kind))));
    }
    if end > file_len {
        // A recording cut by a crash ends inside its last box: the walk stops before it.
        return Ok(None);
    }
    Ok(Some(Header { kind, body, end }))
}

fn name(kind: &[u8; 4]) -> String {
    String::from_utf8_lossy(kind).into_owned()
}

/// A box inside a box held in memory: its type and where its body is.
type Child = ([u8; 4], std::ops::Range<usize>);

/// The child boxes of `data` (a box body held in memory).
fn children(data: &[u8]) -> Result<Vec<Child>, ClipError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + 8 <= data.len() {
        let size = u32::from_be_bytes(data[at..at + 4].try_into().expect("4 bytes")) as usize;
        let kind: [u8; 4] = data[at + 4..at + 8].try_into().expect("4 bytes");
        let (body, end) = match size {
            0 => (at + 8, data.len()),
            1 => {
                let large = data.get(at + 8..at + 16).ok_or_else(|| bad("truncated box header"))?;
                let size = u64::from_be_bytes(large.try_into().expect("8 bytes"));
                (at + 16, at.checked_add(usize::try_from(size).map_err(|_| bad("box too large"))?).ok_or_else(|| bad("box too large"))?)
            }
            n => (at + 8, at + n),
        };
        if end < body || end > data.len() {
            return Err(bad(format!("box {} does not fit its parent", name(&kind))));
        }
        out.push((kind, body..end));
        at = end;
    }
    Ok(out)
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Result<Option<&'a [u8]>, ClipError> {
    Ok(children(data)?.into_iter().find(|(k, _)| k == kind).map(|(_, r)| &data[r]))
}

fn u32_at(data: &[u8], at: usize) -> Result<u32, ClipError> {
    data.get(at..at + 4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes"))).ok_or_else(|| bad("truncated box"))
}

fn u64_at(data: &[u8], at: usize) -> Result<u64, ClipError> {
    data.get(at..at + 8).map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes"))).ok_or_else(|| bad("truncated box"))
}

/// The tracks of a `moov` body: id, timescale, whether it is video.
fn tracks(moov: &[u8]) -> Result<Vec<TrackInfo>, ClipError> {
    let mut out = Vec::new();
    for (kind, range) in children(moov)? {
        if &kind != b"trak" {
            continue;
        }
        let trak = &moov[range];
        let tkhd = child(trak, b"tkhd")?.ok_or_else(|| bad("a track without tkhd"))?;
        let id = u32_at(tkhd, if tkhd.first() == Some(&1) { 20 } else { 12 })?;
        let mdia = child(trak, b"mdia")?.ok_or_else(|| bad("a track without mdia"))?;
        let mdhd = child(mdia, b"mdhd")?.ok_or_else(|| bad("a track without mdhd"))?;
        let timescale = u32_at(mdhd, if mdhd.first() == Some(&1) { 20 } else { 12 })?;
        if timescale == 0 {
            return Err(bad("a track with timescale 0"));
        }
        let hdlr = child(mdia, b"hdlr")?.ok_or_else(|| bad("a track without hdlr"))?;
        let video = hdlr.get(8..12) == Some(b"vide");
        out.push(TrackInfo { id, timescale, video });
    }
    if out.is_empty() {
        return Err(bad("no tracks"));
    }
    Ok(out)
}

/// One track's run in a fragment: its track, its decode time, where the tfdt's time field is
/// (in the moof body), its width, whether its first sample is a keyframe, its duration.
struct Traf {
    track: u32,
    decode: u64,
    tfdt_at: usize,
    tfdt_wide: bool,
    first_is_sync: bool,
    duration: u64,
}

fn trafs(moof: &[u8]) -> Result<Vec<Traf>, ClipError> {
    let mut out = Vec::new();
    for (kind, range) in children(moof)? {
        if &kind != b"traf" {
            continue;
        }
        let base = range.start;
        let traf = &moof[range];
        let mut track = None;
        let mut default_flags = None;
        let mut default_duration = None;
        let mut tfdt = None;
        let mut first_is_sync = true;
        let mut seen_trun = false;
        let mut duration = 0u64;
        for (kind, r) in children(traf)? {
            let b = &traf[r.clone()];
            let flags = u32_at(b, 0)? & 0x00ff_ffff;
            match &kind {
                b"tfhd" => {
                    track = Some(u32_at(b, 4)?);
                    let mut at = 8;
                    for (bit, len) in [(0x01, 8), (0x02, 4)] {
                        if flags & bit != 0 {
                            at += len;
                        }
                    }
                    if flags & 0x08 != 0 {
                        default_duration = Some(u32_at(b, at)?);
                        at += 4;
                    }
                    if flags & 0x10 != 0 {
                        at += 4;
                    }
                    if flags & 0x20 != 0 {
                        default_flags = Some(u32_at(b, at)?);
                    }
                }
                b"tfdt" => {
                    let wide = b.first() == Some(&1);
                    let decode = if wide { u64_at(b, 4)? } else { u64::from(u32_at(b, 4)?) };
                    tfdt = Some((decode, base + r.start + 4, wide));
                }
                b"trun" => {
                    let count = u32_at(b, 4)? as usize;
                    let mut at = 8;
                    if flags & 0x01 != 0 {
                        at += 4;
                    }
                    let mut first_flags = None;
                    if flags & 0x04 != 0 {
                        first_flags = Some(u32_at(b, at)?);
                        at += 4;
                    }
                    let per_sample = [0x100, 0x200, 0x400, 0x800].iter().filter(|bit| flags & *bit != 0).count() * 4;
                    if count.checked_mul(per_sample).is_none_or(|n| at + n > b.len()) {
                        return Err(bad("a trun longer than its box"));
                    }
                    for i in 0..count {
                        let s = at + i * per_sample;
                        let mut field = s;
                        let d = if flags & 0x100 != 0 {
                            field += 4;
                            Some(u32_at(b, s)?)
                        } else {
                            None
                        };
                        if flags & 0x200 != 0 {
                            field += 4;
                        }
                        let sample_flags = if flags & 0x400 != 0 { Some(u32_at(b, field)?) } else { None };
                        if i == 0 && !seen_trun {
                            let f = first_flags.or(sample_flags).or(default_flags).unwrap_or(0);
                            first_is_sync = f & 0x0001_0000 == 0;
                        }
                        duration += u64::from(d.or(default_duration).unwrap_or(0));
                    }
                    seen_trun = true;
                }
                _ => {}
            }
        }
        let track = track.ok_or_else(|| bad("a traf without tfhd"))?;
        let (decode, tfdt_at, tfdt_wide) = tfdt.ok_or_else(|| bad("a traf without tfdt"))?;
        out.push(Traf { track, decode, tfdt_at, tfdt_wide, first_is_sync, duration });
    }
    Ok(out)
}

fn ms(time: u64, timescale: u32) -> i64 {
    (u128::from(time) * 1000 / u128::from(timescale)).min(i64::MAX as u128) as i64
}

impl Index {
    /// Walks the file's top-level boxes.
    pub fn read(file: &mut (impl Read + Seek)) -> Result<Index, ClipError> {
        let file_len = file.seek(SeekFrom::End(0))?;
        let mut at = 0;
        let mut init_len = None;
        let mut tracks_found = None;
        let mut fragments: Vec<Fragment> = Vec::new();
        let mut end_ms = 0;
        // The fragment whose moof waits for its mdat, and where its media ends (ms).
        let mut open: Option<(Fragment, i64)> = None;
        while let Some(h) = read_header(file, at, file_len)? {
            match &h.kind {
                b"moov" | b"moof" => {
                    let len = h.end - h.body;
                    if len > MAX_META_BOX {
                        return Err(bad(format!("a {} box of {len} bytes", name(&h.kind))));
                    }
                    let mut body = vec![0u8; len as usize];
                    file.seek(SeekFrom::Start(h.body))?;
                    file.read_exact(&mut body)?;
                    if &h.kind == b"moov" {
                        tracks_found = Some(tracks(&body)?);
                        init_len = Some(h.end);
                    } else {
                        let tracks = tracks_found.as_ref().ok_or_else(|| bad("a fragment before the moov"))?;
                        let runs = trafs(&body)?;
                        let lead = runs
                            .iter()
                            .find(|t| tracks.iter().any(|k| k.id == t.track && k.video))
                            .or(runs.first())
                            .ok_or_else(|| bad("a fragment without tracks"))?;
                        let scale = |t: &Traf| tracks.iter().find(|k| k.id == t.track).map_or(1000, |k| k.timescale);
                        let start_ms = ms(lead.decode, scale(lead));
                        let frag_end = runs.iter().map(|t| ms(t.decode + t.duration, scale(t))).max().unwrap_or(start_ms);
                        // A clip starts where video starts with a keyframe (any fragment, in a
                        // recording without video).
                        let has_video = tracks.iter().any(|k| k.video);
                        let lead_is_video = tracks.iter().any(|k| k.id == lead.track && k.video);
                        let keyframe = if has_video { lead_is_video && lead.first_is_sync } else { true };
                        let header = h.body - at;
                        let sequence_at = children(&body)?
                            .into_iter()
                            .find(|(k, r)| k == b"mfhd" && r.len() >= 8)
                            .map(|(_, r)| header + r.start as u64 + 4);
                        let decode_at = runs.iter().map(|t| (t.track, header + t.tfdt_at as u64, t.tfdt_wide)).collect();
                        let runs = runs.iter().map(|t| (t.track, t.decode, t.duration)).collect();
                        let fragment = Fragment { offset: at, len: 0, start_ms, keyframe, runs, sequence_at, decode_at };
                        open = Some((fragment, frag_end));
                    }
                }
                b"mdat" => {
                    if let Some((mut fragment, frag_end)) = open.take() {
                        fragment.len = h.end - fragment.offset;
                        fragments.push(fragment);
                        end_ms = end_ms.max(frag_end);
                    }
                }
                _ => {}
            }
            at = h.end;
        }
        let tracks = tracks_found.ok_or_else(|| bad("no moov box"))?;
        Ok(Index { init_len: init_len.unwrap_or(at), fragments, end_ms, tracks })
    }

    /// Which fragments a clip from `from_ms` to `to_ms` takes once cut on keyframes: it starts at
    /// the keyframe nearest `from_ms` and ends at the fragment boundary nearest `to_ms` (at least
    /// one fragment), so its length is within one keyframe interval of the one asked for.
    pub fn span(&self, from_ms: i64, to_ms: i64) -> Result<(usize, usize), ClipError> {
        if from_ms < 0 || to_ms <= from_ms {
            return Err(ClipError::Range(format!("the clip must end after it starts (from {from_ms} ms to {to_ms} ms)")));
        }
        if self.fragments.is_empty() || from_ms >= self.end_ms {
            return Err(ClipError::Range(format!("the recording is {} ms long; the clip starts at {from_ms} ms", self.end_ms)));
        }
        if to_ms > self.end_ms + 1000 {
            return Err(ClipError::Range(format!("the recording is {} ms long; the clip ends at {to_ms} ms", self.end_ms)));
        }
        let first = self
            .fragments
            .iter()
            .enumerate()
            .filter(|(_, f)| f.keyframe && f.start_ms < to_ms)
            .min_by_key(|(_, f)| (f.start_ms - from_ms).abs())
            .map_or(0, |(i, _)| i);
        // Fragment i ends where i + 1 starts (the last one at the end of the recording).
        let end_of = |i: usize| self.fragments.get(i + 1).map_or(self.end_ms, |f| f.start_ms);
        let last = (first..self.fragments.len()).min_by_key(|i| (end_of(*i) - to_ms).abs()).unwrap_or(first);
        Ok((first, last))
    }

    /// Writes the clip from `from_ms` to `to_ms` (widened to keyframes) of `file` to `out`.
    pub fn cut(&self, file: &mut (impl Read + Seek), from_ms: i64, to_ms: i64, out: &mut impl Write) -> Result<Cut, ClipError> {
        let (first, last) = self.span(from_ms, to_ms)?;
        let mut bytes = 0u64;
        let mut init = vec![0u8; self.init_len as usize];
        file.seek(SeekFrom::Start(0))?;
        file.read_exact(&mut init)?;
        out.write_all(&init)?;
        bytes += init.len() as u64;
        let start_ms = self.fragments[first].start_ms;
        if let Some(sidx) = self.segment_index(first..last + 1, start_ms) {
            out.write_all(&sidx)?;
            bytes += sidx.len() as u64;
        }
        let end_ms = self.fragments.get(last + 1).map_or(self.end_ms, |f| f.start_ms);
        for fragment in &self.fragments[first..=last] {
            let mut data = vec![0u8; fragment.len as usize];
            file.seek(SeekFrom::Start(fragment.offset))?;
            file.read_exact(&mut data)?;
            // The moof's body starts after its 8-byte header (our fragments never use 64-bit sizes).
            let moof_len = u32_at(&data, 0)? as usize;
            if moof_len < 8 || moof_len > data.len() {
                return Err(bad("a moof that does not fit its fragment"));
            }
            for run in trafs(&data[8..moof_len])? {
                let timescale = self.tracks.iter().find(|t| t.id == run.track).map_or(1000, |t| t.timescale);
                let shift = (u128::from(start_ms as u64) * u128::from(timescale) / 1000) as u64;
                let moved = run.decode.saturating_sub(shift);
                let at = 8 + run.tfdt_at;
                if run.tfdt_wide {
                    data[at..at + 8].copy_from_slice(&moved.to_be_bytes());
                } else {
                    data[at..at + 4].copy_from_slice(&(moved.min(u64::from(u32::MAX)) as u32).to_be_bytes());
                }
            }
            out.write_all(&data)?;
            bytes += data.len() as u64;
        }
        out.flush()?;
        Ok(Cut { start_ms, end_ms, bytes })
    }

    /// `sidx` boxes (ISO/IEC 14496-12 8.16.3), one per track, video first, indexing the fragments
    /// in `range` with their decode times moved back by `shift_ms`; written right before those
    /// fragments (laid end to end), they tell a player the duration and where each moment is
    /// without reading every fragment. `None` when one index cannot hold them (over 65,535
    /// fragments, or a fragment over 2 GiB).
    pub fn segment_index(&self, range: std::ops::Range<usize>, shift_ms: i64) -> Option<Vec<u8>> {
        let fragments = self.fragments.get(range)?;
        if fragments.is_empty() || fragments.len() > usize::from(u16::MAX) || fragments.iter().any(|f| f.len >= 1 << 31) {
            return None;
        }
        let mut tracks: Vec<&TrackInfo> = self.tracks.iter().collect();
        tracks.sort_by_key(|t| !t.video);
        let box_len = 12 + 28 + 12 * fragments.len();
        let mut out = Vec::with_capacity(box_len * tracks.len());
        for (k, track) in tracks.iter().enumerate() {
            let shift = (u128::from(shift_ms.max(0) as u64) * u128::from(track.timescale) / 1000) as u64;
            // Where each fragment starts in this track (a fragment without its samples starts
            // where the one before it ended).
            let mut starts: Vec<u64> = Vec::with_capacity(fragments.len());
            let mut own: Vec<u64> = Vec::with_capacity(fragments.len());
            for f in fragments {
                let run = f.runs.iter().find(|r| r.0 == track.id);
                let start = match (run, starts.last(), own.last()) {
                    (Some(r), _, _) => r.1.saturating_sub(shift),
                    (None, Some(s), Some(d)) => s + d,
                    (None, _, _) => 0,
                };
                starts.push(start);
                own.push(run.map_or(0, |r| r.2));
            }
            let after = (box_len * (tracks.len() - k - 1)) as u64;
            out.extend((box_len as u32).to_be_bytes());
            out.extend(b"sidx");
            out.extend(0x0100_0000u32.to_be_bytes()); // version 1, no flags
            out.extend(track.id.to_be_bytes());
            out.extend(track.timescale.to_be_bytes());
            out.extend(starts[0].to_be_bytes()); // earliest presentation time
            out.extend(after.to_be_bytes()); // first offset: the other indexes after this one
            out.extend(0u16.to_be_bytes());
            out.extend((fragments.len() as u16).to_be_bytes());
            for (i, f) in fragments.iter().enumerate() {
                let duration = match starts.get(i + 1) {
                    Some(next) => next.saturating_sub(starts[i]),
                    None => own[i],
                };
                let sap = if track.video { f.keyframe } else { true };
                out.extend((f.len as u32).to_be_bytes());
                out.extend((duration.min(u64::from(u32::MAX)) as u32).to_be_bytes());
                out.extend((if sap { 0x9000_0000u32 } else { 0 }).to_be_bytes());
            }
        }
        Some(out)
    }

    /// The fragments lie end to end from the first to the last (nothing between them), as in
    /// our recordings: then an index written before the first describes them all.
    pub fn contiguous(&self) -> bool {
        self.fragments.windows(2).all(|w| w[0].offset + w[0].len == w[1].offset)
    }

    /// The same tracks (ids, timescales, kinds): recordings whose fragments can follow each other.
    fn same_tracks(&self, other: &Index) -> bool {
        self.tracks.len() == other.tracks.len()
            && self.tracks.iter().zip(&other.tracks).all(|(a, b)| a.id == b.id && a.timescale == b.timescale && a.video == b.video)
    }
}

/// A show recorded in parts (a server restarted mid-show starts a new file, whose media time 0 is
/// its own first keyframe) served as one recording: the first part's init segment, then this.
#[derive(Clone, Debug)]
pub struct Joined {
    /// The segment index of every fragment, to put right after the first part's init segment.
    pub sidx: Vec<u8>,
    /// Every part's fragments end to end, with their decode times moved to the show's media time
    /// and their sequence numbers following on.
    pub body: Vec<Piece>,
    /// Media time at the end of the last fragment, in ms.
    pub end_ms: i64,
    /// The parts it holds (a part with other tracks is left out).
    pub parts: Vec<usize>,
}

/// Lays `parts` (each recording's index, and where its media time 0 falls in the first part's,
/// in ms) end to end. A part whose clock puts it before the end of the one before it (two
/// machines' clocks) starts where that one ends. `None` when one index cannot hold it all (see
/// [`Index::segment_index`]) or a 32-bit decode time cannot hold its new value.
pub fn join(parts: &[(&Index, i64)]) -> Option<Joined> {
    let (first, _) = parts.first()?;
    let (mut fragments, mut body, mut joined) = (Vec::new(), Vec::new(), Vec::new());
    let (mut at, mut end_ms, mut sequence) = (0u64, 0i64, 0u32);
    for (k, (index, start_ms)) in parts.iter().enumerate() {
        let Some(lead) = index.fragments.first() else { continue };
        if !first.same_tracks(index) {
            continue;
        }
        // The first part is the clock; a later one starts where its clock says, even when the
        // parts before it left nothing (a crash before their first fragment).
        let shift_ms = if k == 0 { 0 } else { (*start_ms).max(end_ms - lead.start_ms).max(0) };
        let scale = |track: u32| index.tracks.iter().find(|t| t.id == track).map_or(1000, |t| t.timescale);
        let ticks = |track: u32| (u128::from(shift_ms as u64) * u128::from(scale(track)) / 1000) as u64;
        for f in &index.fragments {
            sequence = sequence.wrapping_add(1);
            // The bytes that change: none in the first part (it stays as it was written).
            let mut patches: Vec<(u64, Vec<u8>)> = Vec::new();
            if k != 0 {
                patches.extend(f.sequence_at.map(|at| (at, sequence.to_be_bytes().to_vec())));
                for (track, at, wide) in &f.decode_at {
                    let run = f.runs.iter().find(|r| r.0 == *track)?;
                    let moved = run.1.checked_add(ticks(*track))?;
                    let bytes = if *wide { moved.to_be_bytes().to_vec() } else { u32::try_from(moved).ok()?.to_be_bytes().to_vec() };
                    patches.push((*at, bytes));
                }
            }
            patches.sort_by_key(|p| p.0);
            let mut from = 0u64;
            for (at, bytes) in patches {
                push_file(&mut body, k, f.offset + from, at.saturating_sub(from));
                from = at + bytes.len() as u64;
                body.push(Piece::Bytes(bytes));
            }
            push_file(&mut body, k, f.offset + from, f.len.saturating_sub(from));
            let runs = f.runs.iter().map(|r| (r.0, r.1.saturating_add(ticks(r.0)), r.2)).collect();
            fragments.push(Fragment { offset: at, start_ms: f.start_ms.saturating_add(shift_ms), runs, ..f.clone() });
            at += f.len;
        }
        end_ms = end_ms.max(index.end_ms.saturating_add(shift_ms));
        joined.push(k);
    }
    let whole = Index { init_len: first.init_len, fragments, end_ms, tracks: first.tracks.clone() };
    let sidx = whole.segment_index(0..whole.fragments.len(), 0)?;
    Some(Joined { sidx, body, end_ms, parts: joined })
}

/// Bytes of a file made from others: made here, or `len` bytes of file `part` from `start`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Bytes(Vec<u8>),
    File { part: usize, start: u64, len: u64 },
}

/// A file made of pieces (what [`join`] gives, after a head) read as one: what clips are cut
/// from when a show was recorded in parts.
pub struct Pieces<R> {
    parts: Vec<R>,
    pieces: Vec<Piece>,
    /// Where each piece starts in the whole.
    starts: Vec<u64>,
    len: u64,
    pos: u64,
}

impl<R: Read + Seek> Pieces<R> {
    /// `pieces` taking their ranges from `parts` (a range past a part's end reads short: an error).
    pub fn new(parts: Vec<R>, pieces: Vec<Piece>) -> Pieces<R> {
        let mut starts = Vec::with_capacity(pieces.len());
        let mut len = 0u64;
        for piece in &pieces {
            starts.push(len);
            len += match piece {
                Piece::Bytes(b) => b.len() as u64,
                Piece::File { len, .. } => *len,
            };
        }
        Pieces { parts, pieces, starts, len, pos: 0 }
    }
}

impl<R: Read + Seek> Read for Pieces<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let i = self.starts.partition_point(|s| *s <= self.pos) - 1;
        let within = self.pos - self.starts[i];
        let n = match &self.pieces[i] {
            Piece::Bytes(b) => {
                let n = buf.len().min(b.len() - within as usize);
                buf[..n].copy_from_slice(&b[within as usize..within as usize + n]);
                n
            }
            Piece::File { part, start, len } => {
                let n = buf.len().min((len - within) as usize);
                let file = self.parts.get_mut(*part).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such part"))?;
                file.seek(SeekFrom::Start(start + within))?;
                file.read(&mut buf[..n])?
            }
        };
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "a recording part is shorter than its index says"));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for Pieces<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a seek before the start"))?;
        Ok(self.pos)
    }
}

/// Appends a range of a file, growing the last piece when it ends where this one starts.
pub(crate) fn push_file(body: &mut Vec<Piece>, part: usize, start: u64, len: u64) {
    if len == 0 {
        return;
    }
    if let Some(Piece::File { part: p, start: s, len: l }) = body.last_mut()
        && *p == part
        && *s + *l == start
    {
        *l += len;
        return;
    }
    body.push(Piece::File { part, start, len });
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Cursor;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::fmp4::{Fmp4Recorder, Kind};

    /// Ten seconds of our own recording: 30 frames a second, a keyframe a second, Opus every 20 ms.
    fn recording() -> Vec<u8> {
        let mut r = Fmp4Recorder::new();
        let t0 = Instant::now();
        let mut out = Vec::new();
        for n in 0..300u64 {
            let wall = t0 + Duration::from_millis(n * 1000 / 30);
            out.extend(r.push(Kind::Video, n * 3000, wall, &crate::fmp4::tests::frame(n % 30 == 0)));
            for a in (n * 50 / 30)..((n + 1) * 50 / 30) {
                out.extend(r.push(Kind::Audio, a * 960, t0 + Duration::from_millis(a * 20), &[0xfc; 40]));
            }
        }
        out.extend(r.finish());
        out
    }

    #[test]
    fn indexes_our_recordings() {
        let file = recording();
        let index = Index::read(&mut Cursor::new(&file)).unwrap();
        assert_eq!(index.fragments.len(), 10, "{:?}", index.fragments);
        assert!(index.fragments.iter().all(|f| f.keyframe));
        let starts: Vec<i64> = index.fragments.iter().map(|f| f.start_ms).collect();
        assert_eq!(starts, (0..10).map(|s| s * 1000).collect::<Vec<_>>());
        assert!((9_900..=10_100).contains(&index.end_ms), "{}", index.end_ms);
        assert_eq!(index.fragments.last().map(|f| f.offset + f.len), Some(file.len() as u64));
    }

    #[test]
    fn cuts_on_keyframes_and_starts_at_zero() {
        let file = recording();
        let index = Index::read(&mut Cursor::new(&file)).unwrap();
        let mut clip = Vec::new();
        let cut = index.cut(&mut Cursor::new(&file), 2_400, 5_600, &mut clip).unwrap();
        assert_eq!((cut.start_ms, cut.end_ms), (2_000, 6_000), "moved to the nearest keyframes");
        let again = Index::read(&mut Cursor::new(&clip)).unwrap();
        let starts: Vec<i64> = again.fragments.iter().map(|f| f.start_ms).collect();
        assert_eq!(starts, vec![0, 1_000, 2_000, 3_000]);
        assert_eq!(again.end_ms, 4_000);
        // The clip carries its own index: one sidx per track, right after the moov.
        let boxes: Vec<String> = children(&clip).unwrap().iter().map(|(k, _)| name(k)).take(5).collect();
        assert_eq!(boxes, ["ftyp", "moov", "sidx", "sidx", "moof"]);
        let short = index.cut(&mut Cursor::new(&file), 3_100, 3_200, &mut Vec::new()).unwrap();
        assert_eq!((short.start_ms, short.end_ms), (3_000, 4_000), "at least one fragment");
        assert_eq!(cut.bytes, clip.len() as u64);
    }

    #[test]
    fn a_segment_index_tiles_the_recording() {
        let file = recording();
        let index = Index::read(&mut Cursor::new(&file)).unwrap();
        assert!(index.contiguous());
        let sidx = index.segment_index(0..index.fragments.len(), 0).unwrap();
        let boxes = children(&sidx).unwrap();
        assert_eq!(boxes.len(), 2, "one per track");
        let video = &sidx[boxes[0].1.clone()];
        assert_eq!(u32_at(video, 4).unwrap(), 1, "the video track first");
        assert_eq!(u32_at(video, 8).unwrap(), 90_000);
        assert_eq!(u64_at(video, 20).unwrap(), sidx.len() as u64 / 2, "first offset: past the audio index");
        let count = u16::from_be_bytes([video[30], video[31]]) as usize;
        assert_eq!(count, 10);
        let refs: Vec<(u32, u32, u32)> = (0..count)
            .map(|i| (u32_at(video, 32 + 12 * i).unwrap(), u32_at(video, 36 + 12 * i).unwrap(), u32_at(video, 40 + 12 * i).unwrap()))
            .collect();
        for (i, (size, duration, sap)) in refs.iter().enumerate() {
            assert_eq!(u64::from(*size), index.fragments[i].len);
            assert_eq!(*sap, 0x9000_0000, "starts with a keyframe");
            if i < 9 {
                assert_eq!(*duration, 90_000, "a second each");
            }
        }
        let audio = &sidx[boxes[1].1.clone()];
        assert_eq!(u64_at(audio, 20).unwrap(), 0);
    }

    /// A joined recording's bytes, taken from `parts` as the web plane serves them.
    pub(crate) fn assemble(parts: &[&[u8]], head: &[u8], body: &[Piece]) -> Vec<u8> {
        let mut out = head.to_vec();
        for piece in body {
            match piece {
                Piece::Bytes(b) => out.extend(b),
                Piece::File { part, start, len } => out.extend(&parts[*part][*start as usize..(*start + *len) as usize]),
            }
        }
        out
    }

    #[test]
    fn parts_join_in_the_shows_media_time() {
        let (a, b) = (recording(), recording());
        let (ia, ib) = (Index::read(&mut Cursor::new(&a)).unwrap(), Index::read(&mut Cursor::new(&b)).unwrap());
        // The second part's first keyframe came 15 s after the first part's (a restart of 5 s).
        let joined = join(&[(&ia, 0), (&ib, 15_000)]).unwrap();
        assert_eq!(joined.parts, [0, 1]);
        let mut head = a[..ia.init_len as usize].to_vec();
        head.extend(&joined.sidx);
        let file = assemble(&[&a, &b], &head, &joined.body);
        let whole = Index::read(&mut Cursor::new(&file)).unwrap();
        let starts: Vec<i64> = whole.fragments.iter().map(|f| f.start_ms).collect();
        let expected: Vec<i64> = (0..10).map(|s| s * 1000).chain((15..25).map(|s| s * 1000)).collect();
        assert_eq!(starts, expected);
        assert_eq!(whole.end_ms, ib.end_ms + 15_000);
        assert_eq!(joined.end_ms, whole.end_ms);
        for track in [1, 2] {
            let decode: Vec<u64> = whole.fragments.iter().filter_map(|f| f.runs.iter().find(|r| r.0 == track)).map(|r| r.1).collect();
            assert!(decode.windows(2).all(|w| w[0] < w[1]), "track {track}: {decode:?}");
        }
        let sequences: Vec<u32> =
            whole.fragments.iter().map(|f| u32_at(&file, (f.offset + f.sequence_at.unwrap()) as usize).unwrap()).collect();
        assert!(sequences.windows(2).all(|w| w[1] == w[0] + 1), "sequence numbers follow on: {sequences:?}");
        // One index for the whole, after the first part's moov; the first part is sent as written.
        let boxes: Vec<String> = children(&file).unwrap().iter().map(|(k, _)| name(k)).take(5).collect();
        assert_eq!(boxes, ["ftyp", "moov", "sidx", "sidx", "moof"]);
        assert_eq!(joined.body[0], Piece::File { part: 0, start: ia.fragments[0].offset, len: a.len() as u64 - ia.fragments[0].offset });
        // Read through the pieces, the whole is the same bytes, and clips cut from it cross the seam.
        let mut pieces = vec![Piece::Bytes(head.clone())];
        pieces.extend(joined.body.iter().cloned());
        let mut reader = Pieces::new(vec![Cursor::new(&a), Cursor::new(&b)], pieces);
        let mut read = Vec::new();
        reader.read_to_end(&mut read).unwrap();
        assert!(read == file);
        let through = Index::read(&mut reader).unwrap();
        assert_eq!(through.fragments.len(), 20);
        let (mut from_pieces, mut from_file) = (Vec::new(), Vec::new());
        let cut = through.cut(&mut reader, 8_000, 17_000, &mut from_pieces).unwrap();
        assert_eq!((cut.start_ms, cut.end_ms), (8_000, 17_000));
        whole.cut(&mut Cursor::new(&file), 8_000, 17_000, &mut from_file).unwrap();
        assert!(from_pieces == from_file);

        // A first part with no whole fragment (a crash before it): the second keeps its time.
        let empty = Index::read(&mut Cursor::new(&a[..ia.init_len as usize])).unwrap();
        let after_crash = join(&[(&empty, 0), (&ib, 7_000)]).unwrap();
        assert_eq!(after_crash.parts, [1]);
        let file = assemble(&[&a, &b], &head, &after_crash.body);
        assert_eq!(Index::read(&mut Cursor::new(&file)).unwrap().fragments[0].start_ms, 7_000);

        // A clock that puts the second part inside the first: it starts where the first ends.
        let early = join(&[(&ia, 0), (&ib, 4_000)]).unwrap();
        let file = assemble(&[&a, &b], &head, &early.body);
        let whole = Index::read(&mut Cursor::new(&file)).unwrap();
        assert_eq!(whole.fragments[10].start_ms, ia.end_ms);
    }

    #[test]
    fn refuses_ranges_outside_the_recording() {
        let file = recording();
        let index = Index::read(&mut Cursor::new(&file)).unwrap();
        for (from, to) in [(5_000, 4_000), (5_000, 5_000), (-1, 1_000), (20_000, 21_000), (0, 60_000)] {
            assert!(matches!(index.cut(&mut Cursor::new(&file), from, to, &mut Vec::new()), Err(ClipError::Range(_))), "{from}..{to}");
        }
    }

    #[test]
    fn a_cut_off_recording_indexes_up_to_its_last_whole_fragment() {
        let file = recording();
        let cut_at = file.len() - 100;
        let index = Index::read(&mut Cursor::new(&file[..cut_at])).unwrap();
        assert_eq!(index.fragments.len(), 9);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&b""[..], b"hello world, not an mp4", &[0, 0, 0, 9, b'm', b'o', b'o', b'v', 0], &[0, 0, 0, 1, b'm', b'o', b'o', b'v']]
        {
            assert!(Index::read(&mut Cursor::new(bytes)).is_err());
        }
    }
}
