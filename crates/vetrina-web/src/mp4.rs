//! Recordings and clips over HTTP, with byte ranges (RFC 9110 14).
//!
//! A recording is written as it arrives: an init segment, then fragments, with no index (a
//! player would have to read every fragment to learn its duration: 2 s and 300 MB for a
//! two-hour show in Chromium). Once the show has ended, the recording is served as a [`Source`]
//! whose head is the init segment followed by a segment index (`sidx`, written by
//! `vetrina_media::clip`), and whose body is the file's fragments unchanged: no copy is made,
//! and the index is kept in memory for as long as the file does not change.
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
use futures_util::StreamExt;

use crate::api::media::byte_range;
use crate::error::{ApiError, ApiResult};

/// What a response serves: `head` (in memory), then `body_len` bytes of the file at `path` from
/// `body_start`.
#[derive(Clone, Debug)]
pub struct Source {
    /// `video/mp4` or `video/webm`.
    pub content_type: &'static str,
    pub head: Bytes,
    pub path: String,
    pub body_start: u64,
    /// `None`: to the end of the file.
    pub body_len: Option<u64>,
}

impl Source {
    /// A whole file.
    pub fn file(path: &str) -> Source {
        Source { content_type: content_type(path), head: Bytes::new(), path: path.to_string(), body_start: 0, body_len: None }
    }
}

/// A recording's or clip's media type, from its name (ours end in `.mp4` or `.webm`).
fn content_type(path: &str) -> &'static str {
    if path.ends_with(".webm") { "video/webm" } else { "video/mp4" }
}

/// Indexed views of finished recordings, by path: (file length, modified, view).
type Views = Vec<(String, u64, SystemTime, Arc<Source>)>;
static VIEWS: Mutex<Views> = Mutex::new(Vec::new());
const MAX_VIEWS: usize = 32;

/// The recording at `path` with a segment index (MP4) or its size, duration and cues (WebM),
/// when it can have them (our recordings always can; MP4 up to 65,535 fragments).
pub async fn indexed(path: &str) -> Option<Source> {
    let meta = tokio::fs::metadata(path).await.ok()?;
    let (len, modified) = (meta.len(), meta.modified().ok()?);
    {
        let views = VIEWS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, _, view)) = views.iter().find(|(p, l, m, _)| p == path && *l == len && *m == modified) {
            return Some(view.as_ref().clone());
        }
    }
    let at = path.to_string();
    let view = tokio::task::spawn_blocking(move || -> Option<Source> {
        let mut file = std::fs::File::open(&at).ok()?;
        if content_type(&at) == "video/webm" {
            let index = vetrina_media::webm::Index::read(&mut file).ok()?;
            let (first, last) = (index.clusters.first()?, index.clusters.last()?);
            let head = index.head()?;
            return Some(Source {
                content_type: "video/webm",
                head: Bytes::from(head),
                body_start: first.offset,
                body_len: Some(last.offset + last.len - first.offset),
                path: at,
            });
        }
        use std::io::{Read, Seek, SeekFrom};
        let index = vetrina_media::clip::Index::read(&mut file).ok()?;
        let (first, last) = (index.fragments.first()?, index.fragments.last()?);
        if !index.contiguous() {
            return None;
        }
        let sidx = index.segment_index(0..index.fragments.len(), 0)?;
        let mut head = vec![0u8; index.init_len as usize];
        file.seek(SeekFrom::Start(0)).ok()?;
        file.read_exact(&mut head).ok()?;
        head.extend(sidx);
        Some(Source {
            content_type: "video/mp4",
            head: Bytes::from(head),
            path: at,
            body_start: first.offset,
            body_len: Some(last.offset + last.len - first.offset),
        })
    })
    .await
    .ok()??;
    let mut views = VIEWS.lock().unwrap_or_else(|e| e.into_inner());
    views.retain(|(p, ..)| p != path);
    if views.len() >= MAX_VIEWS {
        views.remove(0);
    }
    views.push((path.to_string(), len, modified, Arc::new(view.clone())));
    Some(view)
}

/// Serves `source`: 200 whole, 206 a range, 416 past the end; `what` names it in errors.
pub async fn serve(source: &Source, what: &str, headers: &HeaderMap) -> ApiResult<Response> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = tokio::fs::File::open(&source.path).await.map_err(|_| ApiError::not_found(what))?;
    let file_len = file.metadata().await.map_err(ApiError::internal)?.len();
    let body_len =
        source.body_len.unwrap_or_else(|| file_len.saturating_sub(source.body_start)).min(file_len.saturating_sub(source.body_start));
    let head_len = source.head.len() as u64;
    let len = head_len + body_len;
    let range = byte_range(headers.get(header::RANGE).and_then(|v| v.to_str().ok()), len);
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
    // The part of the head in the range, then the part of the file.
    let head_part = if start < head_len { source.head.slice(start as usize..(end + 1).min(head_len) as usize) } else { Bytes::new() };
    let file_from = source.body_start + start.saturating_sub(head_len);
    let file_bytes = n_bytes - head_part.len() as u64;
    file.seek(std::io::SeekFrom::Start(file_from)).await.map_err(ApiError::internal)?;
    let head_stream = futures_util::stream::iter((!head_part.is_empty()).then(|| Ok::<Bytes, std::io::Error>(head_part)));
    let body = axum::body::Body::from_stream(head_stream.chain(tokio_util::io::ReaderStream::new(file.take(file_bytes))));
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(source.content_type));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(n_bytes));
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")).map_err(ApiError::internal)?);
    }
    Ok(response)
}
