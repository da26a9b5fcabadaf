//! Recordings and clips over HTTP, with byte ranges (RFC 9110 14).
//!
//! A recording is written as it arrives: an init segment, then fragments, with no index (a
//! player would have to read every fragment to learn its duration: 2 s and 300 MB for a
//! two-hour show in Chromium). Once the show has ended, the recording is served as a [`Source`]
//! whose head is the init segment followed by a segment index (`sidx`, written by
//! `vetrina_media::clip`), and whose body is the file's fragments unchanged: no copy is made,
//! and the index is kept in memory for as long as the file does not change.
//!
//! A show recorded in parts (a server restarted mid-show starts a new file) is served as one
//! recording once it has ended: the later parts' fragments follow the first part's, their times
//! moved to the show's media time (a few bytes per fragment are rewritten as they are sent; see
//! `vetrina_media::clip::join`), so the replay runs to the end of the show with the room's
//! timeline in sync.
//!
//! A VP8 publisher's recording is WebM (`vetrina_media::webm`), written as a live stream (a
//! Segment of unknown size, no duration, no cues): once the show has ended it is served the
//! same way, its clusters unchanged behind a head that gives the Segment's size, the duration and
//! cues.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use vetrina_media::clip::Piece;

use crate::api::media::byte_range;
use crate::error::{ApiError, ApiResult};

/// What a response serves: its pieces in order, each bytes in memory or a range of one of
/// `files`.
#[derive(Clone, Debug)]
pub struct Source {
    /// `video/mp4` or `video/webm`.
    pub content_type: &'static str,
    pub files: Vec<String>,
    pub body: Vec<Span>,
}

#[derive(Clone, Debug)]
pub enum Span {
    Bytes(Bytes),
    /// `len` bytes (`None`: to the end, as it is when asked) of `files[file]` from `start`.
    File {
        file: usize,
        start: u64,
        len: Option<u64>,
    },
}

impl Source {
    /// A whole file.
    pub fn file(path: &str) -> Source {
        Source { content_type: content_type(path), files: vec![path.to_string()], body: vec![Span::File { file: 0, start: 0, len: None }] }
    }
}

impl Source {
    /// The source read as one file (blocking): what clips are cut from.
    pub fn reader(&self) -> std::io::Result<vetrina_media::clip::Pieces<std::fs::File>> {
        let files = self.files.iter().map(std::fs::File::open).collect::<std::io::Result<Vec<_>>>()?;
        let mut pieces = Vec::with_capacity(self.body.len());
        for span in &self.body {
            pieces.push(match span {
                Span::Bytes(b) => Piece::Bytes(b.to_vec()),
                Span::File { file, start, len } => {
                    let available = files[*file].metadata()?.len().saturating_sub(*start);
                    Piece::File { part: *file, start: *start, len: len.map_or(available, |l| l.min(available)) }
                }
            });
        }
        Ok(vetrina_media::clip::Pieces::new(files, pieces))
    }
}

/// A show's recording as it is served: once the show has ended, every part in the first part's
/// container end to end in the show's media time (a host who came back with the other codec is
/// served by part only); while it is live, the first part as it is written. `recordings` are
/// the show's parts, oldest first: (path, Unix ms of its media time 0).
pub async fn show_recording(recordings: &[(String, i64)], ended: bool) -> Option<Arc<Source>> {
    let (first, origin) = recordings.first()?;
    if ended {
        let parts: Vec<(String, i64)> = recordings
            .iter()
            .filter(|(path, _)| content_type(path) == content_type(first))
            .map(|(path, started)| (path.clone(), started - origin))
            .collect();
        if let Some(whole) = indexed(&parts).await {
            return Some(whole);
        }
    }
    Some(Arc::new(Source::file(first)))
}

/// A recording's or clip's media type, from its name (ours end in `.mp4` or `.webm`).
pub fn content_type(path: &str) -> &'static str {
    if path.ends_with(".webm") { "video/webm" } else { "video/mp4" }
}

/// Served views of finished recordings, by their files: ((path, length, modified) each, view).
type Views = Vec<(Vec<(String, u64, SystemTime)>, Arc<Source>)>;
static VIEWS: Mutex<Views> = Mutex::new(Vec::new());
const MAX_VIEWS: usize = 32;

/// A finished recording served as one file: its `parts` (path, and where its media time 0 falls
/// in the first part's, in ms; all MP4 or all WebM) end to end, with a segment index (MP4) or
/// the size, duration and cues (WebM). `None` when it cannot be (a part unreadable, or an MP4
/// of more than 65,535 fragments).
pub async fn indexed(parts: &[(String, i64)]) -> Option<Arc<Source>> {
    let mut key = Vec::with_capacity(parts.len());
    for (path, _) in parts {
        let meta = tokio::fs::metadata(path).await.ok()?;
        key.push((path.clone(), meta.len(), meta.modified().ok()?));
    }
    {
        let views = VIEWS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, view)) = views.iter().find(|(k, _)| *k == key) {
            return Some(view.clone());
        }
    }
    let parts = parts.to_vec();
    let view = Arc::new(tokio::task::spawn_blocking(move || join(&parts)).await.ok()??);
    let mut views = VIEWS.lock().unwrap_or_else(|e| e.into_inner());
    views.retain(|(k, _)| *k != key);
    if views.len() >= MAX_VIEWS {
        views.remove(0);
    }
    views.push((key, view.clone()));
    Some(view)
}

/// Reads the parts' indexes and lays them end to end (blocking).
fn join(parts: &[(String, i64)]) -> Option<Source> {
    use std::io::{Read, Seek, SeekFrom};
    let mut files = Vec::with_capacity(parts.len());
    for (path, _) in parts {
        files.push(std::fs::File::open(path).ok()?);
    }
    let content_type = content_type(&parts.first()?.0);
    let (head, pieces) = if content_type == "video/webm" {
        let indexes: Vec<_> = files.iter_mut().map(vetrina_media::webm::Index::read).collect::<Result<_, _>>().ok()?;
        let starts: Vec<_> = indexes.iter().zip(parts).map(|(i, (_, at))| (i, *at)).collect();
        vetrina_media::webm::join(&starts)?
    } else {
        let indexes: Vec<_> = files.iter_mut().map(vetrina_media::clip::Index::read).collect::<Result<_, _>>().ok()?;
        let starts: Vec<_> = indexes.iter().zip(parts).map(|(i, (_, at))| (i, *at)).collect();
        let joined = vetrina_media::clip::join(&starts)?;
        if joined.parts.len() < parts.len() {
            tracing::warn!(
                left_out = parts.len() - joined.parts.len(),
                "recording parts with other tracks or no whole fragment are not served"
            );
        }
        let mut head = vec![0u8; indexes[0].init_len as usize];
        files[0].seek(SeekFrom::Start(0)).ok()?;
        files[0].read_exact(&mut head).ok()?;
        head.extend(joined.sidx);
        (head, joined.body)
    };
    let mut body = vec![Span::Bytes(Bytes::from(head))];
    body.extend(pieces.into_iter().map(|p| match p {
        Piece::Bytes(b) => Span::Bytes(Bytes::from(b)),
        Piece::File { part, start, len } => Span::File { file: part, start, len: Some(len) },
    }));
    Some(Source { content_type, files: parts.iter().map(|(p, _)| p.clone()).collect(), body })
}

/// Serves `source`: 200 whole, 206 a range, 416 past the end; `what` names it in errors.
pub async fn serve(source: &Source, what: &str, headers: &HeaderMap) -> ApiResult<Response> {
    let mut files = Vec::with_capacity(source.files.len());
    // A strong validator (RFC 9110 section 8.8.3) of the bytes this answer is made of: the
    // files' sizes and times, and how they are laid out (a show's recording is served raw while
    // live and with an index once ended, from the same files). A recording still growing gets a
    // new one with every fragment.
    let mut version = 0xcbf2_9ce4_8422_2325u64;
    let mut mix = |n: u64| version = (version ^ n).wrapping_mul(0x0000_0100_0000_01b3);
    source.content_type.bytes().for_each(|b| mix(u64::from(b)));
    for span in &source.body {
        match span {
            Span::Bytes(bytes) => {
                mix(bytes.len() as u64);
                bytes.iter().for_each(|b| mix(u64::from(*b)));
            }
            Span::File { file, start, len } => [*file as u64, *start, len.unwrap_or(u64::MAX)].into_iter().for_each(&mut mix),
        }
    }
    for path in &source.files {
        let file = tokio::fs::File::open(path).await.map_err(|_| ApiError::not_found(what))?;
        let metadata = file.metadata().await.map_err(ApiError::internal)?;
        let modified =
            metadata.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as u64);
        mix(metadata.len());
        mix(modified);
        files.push((file, metadata.len()));
    }
    let etag = format!("\"{version:016x}\"");
    if crate::pages::not_modified(headers, &etag) {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        r.headers_mut().insert(header::ETAG, HeaderValue::from_str(&etag).map_err(ApiError::internal)?);
        r.headers_mut().insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        return Ok(r);
    }
    // Each piece's place: (where it starts in the response, its length).
    let mut places = Vec::with_capacity(source.body.len());
    let mut len = 0u64;
    for span in &source.body {
        let n = match span {
            Span::Bytes(b) => b.len() as u64,
            Span::File { file, start, len } => {
                let available = files.get(*file).map_or(0, |f| f.1.saturating_sub(*start));
                len.map_or(available, |l| l.min(available))
            }
        };
        places.push((len, n));
        len += n;
    }
    // A range of the copy the client has, or the whole file if it has changed (RFC 9110 section
    // 13.1.5: a date is no strong validator, so it never matches).
    let same = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()).is_none_or(|v| v.trim() == etag);
    let range = byte_range(headers.get(header::RANGE).and_then(|v| v.to_str().ok()).filter(|_| same), len);
    let (status, start, end) = match range {
        None => (StatusCode::OK, 0, len.saturating_sub(1)),
        Some(Ok((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b),
        Some(Err(())) => {
            let mut r = ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, format!("the {what} has {len} bytes")).into_response();
            r.headers_mut().insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes */{len}")).map_err(ApiError::internal)?);
            return Ok(r);
        }
    };
    let n_bytes = if len == 0 { 0 } else { end - start + 1 };
    // The pieces' parts in the range, in order.
    let mut plan = Vec::new();
    for (span, (at, n)) in source.body.iter().zip(places) {
        let (from, to) = (start.max(at), (end + 1).min(at + n));
        if n_bytes == 0 || from >= to {
            continue;
        }
        plan.push(match span {
            Span::Bytes(b) => Span::Bytes(b.slice((from - at) as usize..(to - at) as usize)),
            Span::File { file, start, .. } => Span::File { file: *file, start: start + (from - at), len: Some(to - from) },
        });
    }
    let files: Vec<tokio::fs::File> = files.into_iter().map(|(f, _)| f).collect();
    let body = axum::body::Body::from_stream(futures_util::stream::unfold((plan.into_iter(), files, None), next_chunk));
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(source.content_type));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(n_bytes));
    h.insert(header::ETAG, HeaderValue::from_str(&etag).map_err(ApiError::internal)?);
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")).map_err(ApiError::internal)?);
    }
    Ok(response)
}

/// A response's progress: the pieces left, the open files, and the file being read (which, and
/// how many bytes are left of it).
type Sending = (std::vec::IntoIter<Span>, Vec<tokio::fs::File>, Option<(usize, u64)>);

/// The next chunk of a response (at most 64 KiB of a file at a time).
async fn next_chunk((mut plan, mut files, mut reading): Sending) -> Option<(std::io::Result<Bytes>, Sending)> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    loop {
        if let Some((file, left)) = reading.filter(|(_, left)| *left > 0) {
            let mut chunk = vec![0u8; left.min(64 << 10) as usize];
            let read = files[file].read_exact(&mut chunk).await;
            reading = Some((file, left - chunk.len() as u64));
            // After an error the response ends there (short of its Content-Length).
            return match read {
                Ok(_) => Some((Ok(Bytes::from(chunk)), (plan, files, reading))),
                Err(e) => Some((Err(e), (Vec::new().into_iter(), files, None))),
            };
        }
        match plan.next()? {
            Span::Bytes(b) => return Some((Ok(b), (plan, files, None))),
            Span::File { file, start, len } => {
                if let Err(e) = files[file].seek(std::io::SeekFrom::Start(start)).await {
                    return Some((Err(e), (Vec::new().into_iter(), files, None)));
                }
                reading = Some((file, len.unwrap_or(0)));
            }
        }
    }
}
