//! Live video over HTTP: WHIP (RFC 9725) to publish a show, WHEP to watch it, the session
//! resources they create, and the ingest settings hosts copy into OBS.
//!
//! The offer and answer are `application/sdp`. The server does not take trickled candidates:
//! clients send their offer after gathering (a PATCH to a session answers 405, as RFC 9725
//! allows).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vetrina_domain::account::Action;
use vetrina_domain::ids::{OrgId, ShowId};
use vetrina_domain::show::{Show, ShowStatus};
use vetrina_media::{Media, MediaError, Opened};

use crate::AppState;
use crate::auth::{Caller, same_secret};
use crate::error::{ApiError, ApiResult, Body, Json, Path, Query};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(publish, publish_options))
        .routes(routes!(watch, watch_options))
        .routes(routes!(end_session, session_options))
        .routes(routes!(ingest, rotate_stream_key))
        .routes(routes!(show_media))
        .routes(routes!(recording))
        .routes(routes!(media_stats))
        .routes(routes!(crate::live::live))
        .routes(routes!(timeline))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    /// Events after this moment of video (ms); absent: from the start, including events from
    /// before the recording began (which count as -1). A page never splits one moment, unless a
    /// single moment has more events than `limit`: then see `after_at`.
    pub after_ms: Option<i64>,
    /// With `after_ms`: the page before ended inside that moment, at this wall time (Unix ms):
    /// the rest of the moment comes first. Pass the last page's `next_after_at`.
    pub after_at: Option<i64>,
    /// 1 to 1000, default 500.
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct TimelinePage {
    pub events: Vec<TimelineEntry>,
    /// Pass as `after_ms` for the next page; absent at the end.
    pub next_after_ms: Option<i64>,
    /// Present when this page ended inside the moment `next_after_ms` (a single moment held more
    /// events than `limit`): pass it as `after_at` too. Events of that moment are then complete
    /// only up to this wall time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after_at: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct TimelineEntry {
    pub at: i64,
    pub media_ms: Option<i64>,
    /// What happened: `chat`, `likes`, `pin`, `viewers`, `question`, `answer`, `poll`, `vote`,
    /// `poll_closed`, `segment`, `announcement`, `moderation` (see `docs/live.md`, "The
    /// timeline").
    pub kind: String,
    /// As stored (the room wrote it as JSON): passed through, not parsed and written again.
    #[schema(value_type = Object)]
    pub data: Box<serde_json::value::RawValue>,
}

/// The show's timeline in pages by media time: what happened in the room, at which moment of video.
/// The organisation's members see all of it; everyone else sees it without the moderation log
/// and without the chat lines moderators deleted.
#[utoipa::path(get, path = "/api/v1/shows/{slug}/timeline", tag = "live",
    params(("slug" = String, Path), TimelineQuery),
    responses((status = 200, body = TimelinePage), (status = 404, body = crate::error::Problem)))]
async fn timeline(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Query<TimelineQuery>,
    caller: Caller,
) -> ApiResult<Json<TimelinePage>> {
    let show = show_by_slug(&state, &slug).await?;
    if show.status == ShowStatus::Draft {
        return Err(ApiError::not_found("show"));
    }
    let limit = q.limit.unwrap_or(500);
    if !(1..=1000).contains(&limit) {
        return Err(vetrina_domain::Invalid::new("limit", "between 1 and 1000").into());
    }
    // Events from before the recording (no media time) sort first, as media time -1.
    let after = q.after_ms.map_or(-2, |a| a.max(-2));
    let after_at = q.after_at.filter(|_| after >= -1);
    let mut rows = state.store.timeline(&show.id, after, after_at, limit).await?;
    let key = |media_ms: Option<i64>| media_ms.unwrap_or(-1);
    let (mut next_after_ms, mut next_after_at) = (None, None);
    if rows.len() as i64 == limit {
        // A full page: hold back the events sharing the last moment, so the next page (after the
        // moment before it) starts with all of them; pages never split a moment...
        let last = key(rows[rows.len() - 1].1);
        let kept = rows.iter().filter(|r| key(r.1) < last).count();
        if kept > 0 {
            rows.truncate(kept);
            next_after_ms = rows.last().map(|r| key(r.1));
        } else {
            // ...unless one moment fills the page: it is split by wall time, and the events
            // sharing the page's last wall time are held back for the next page (all of them
            // share one wall time too: a page cannot hold them, the next starts after it).
            let last_at = rows[rows.len() - 1].0;
            let kept = rows.iter().filter(|r| r.0 < last_at).count();
            if kept > 0 {
                rows.truncate(kept);
            }
            next_after_ms = Some(last);
            next_after_at = rows.last().map(|r| r.0);
        }
    }
    if caller.role_in(&state, &show.org_id).await.is_err() {
        // The moderators' log is read only for a page with chat lines in it.
        let deleted = if rows.iter().any(|(_, _, kind, _)| kind == "chat") {
            state.store.deleted_messages(&show.id).await?
        } else {
            Default::default()
        };
        rows.retain(|(_, _, kind, data)| match kind.as_str() {
            "moderation" => false,
            "chat" => !serde_json::from_str::<serde_json::Value>(data)
                .ok()
                .and_then(|line| line["id"].as_u64())
                .is_some_and(|id| deleted.contains(&id)),
            _ => true,
        });
    }
    let events: Vec<TimelineEntry> = rows
        .into_iter()
        .map(|(at, media_ms, kind, data)| TimelineEntry {
            at,
            media_ms,
            kind,
            data: serde_json::value::RawValue::from_string(data).unwrap_or_else(|_| null_value()),
        })
        .collect();
    Ok(Json(TimelinePage { events, next_after_ms, next_after_at }))
}

fn null_value() -> Box<serde_json::value::RawValue> {
    serde_json::value::RawValue::from_string("null".into()).expect("null is JSON")
}

/// This node's media sessions and forwarding delay, for operators and load tests.
#[derive(Serialize, ToSchema)]
pub struct MediaStats {
    pub publishers: usize,
    pub viewers: usize,
    pub viewers_receiving: usize,
    /// Time inside the server from a frame's arrival to its hand-over to a viewer's session.
    pub forward_p50_ms: f64,
    pub forward_p99_ms: f64,
    pub forward_max_ms: f64,
    /// Every hand-over since start as `[smallest delay of the bucket in µs, count]` pairs, for
    /// the non-empty buckets (each about 3 % wide): two readings give the delays between them.
    pub forward_histogram_us: Vec<[u64; 2]>,
}

/// Counts and forwarding delay of this node's media plane.
#[utoipa::path(get, path = "/api/v1/media/stats", tag = "media", responses((status = 200, body = MediaStats)))]
async fn media_stats(State(state): State<AppState>) -> ApiResult<Json<MediaStats>> {
    let s = media(&state)?.stats().await.map_err(media_error)?;
    let ms = |us: u64| us as f64 / 1000.0;
    Ok(Json(MediaStats {
        publishers: s.n_publishers,
        viewers: s.n_viewers,
        viewers_receiving: s.n_viewers_receiving,
        forward_p50_ms: ms(s.forward_p50_us),
        forward_p99_ms: ms(s.forward_p99_us),
        forward_max_ms: ms(s.forward_max_us),
        forward_histogram_us: s.forward_histogram.iter().map(|(floor, n)| [u64::from(*floor), *n]).collect(),
    }))
}

/// SDP offers are small; anything larger is not one.
const MAX_SDP_BYTES: usize = 64 * 1024;

fn media(state: &AppState) -> ApiResult<&Media> {
    state.media.as_ref().ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "live video is not enabled on this server"))
}

fn sdp_offer(headers: &HeaderMap, body: &[u8]) -> ApiResult<String> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.trim().to_ascii_lowercase().starts_with("application/sdp") {
        return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the SDP offer with \"Content-Type: application/sdp\""));
    }
    if body.len() > MAX_SDP_BYTES {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("an SDP offer is at most {MAX_SDP_BYTES} bytes")));
    }
    String::from_utf8(body.to_vec()).map_err(|_| ApiError::bad_request("the SDP offer is not UTF-8 text"))
}

fn media_error(e: MediaError) -> ApiError {
    match e {
        MediaError::BadOffer(_) => ApiError::bad_request(e.to_string()),
        MediaError::NoSupportedMedia(_) | MediaError::Unusable(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        MediaError::PublisherActive => ApiError::conflict(e.to_string()),
        MediaError::UnknownSession => ApiError::not_found("media session"),
        MediaError::Stopped => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        // Sessions still connecting finish or time out within seconds (RFC 9110 section 10.2.3).
        MediaError::Busy => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()).with_retry_after(2),
    }
}

/// Lets pages on other origins (the embedded player, browser tools) publish, watch and stop: the
/// stream key or session URL is the credential, never a cookie.
fn allow_cross_origin(headers: &mut HeaderMap) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("Location, Link, ETag"));
}

/// The answer to `OPTIONS` on a media URL: what it takes, the ICE servers, CORS preflight.
fn options_answer(state: &AppState, request: &HeaderMap, methods: &'static str) -> ApiResult<Response> {
    // "200 OK" with no content (RFC 9725 section 4.1).
    let mut response = (StatusCode::OK, [(header::CONTENT_LENGTH, HeaderValue::from_static("0"))]).into_response();
    let headers = response.headers_mut();
    headers.insert(header::ALLOW, HeaderValue::from_static(methods));
    if methods.contains("POST") {
        headers.insert("accept-post", HeaderValue::from_static("application/sdp"));
    }
    allow_cross_origin(headers);
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(methods));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Authorization, Content-Type, If-Match"));
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    // Not to a CORS preflight: TURN credentials only to whoever asks for them (RFC 9725 section 4.6).
    if !request.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        for link in state.config.ice_servers_now().iter().flat_map(|s| s.link_headers()) {
            headers.append(header::LINK, HeaderValue::from_str(&link).map_err(ApiError::internal)?);
        }
    }
    Ok(response)
}

/// WHIP endpoint options: the ICE servers (`Link`) and CORS preflight.
#[utoipa::path(options, path = "/api/v1/shows/{slug}/whip", tag = "media", params(("slug" = String, Path)), responses((status = 200)))]
async fn publish_options(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    options_answer(&state, &headers, "OPTIONS, POST")
}

/// WHEP endpoint options: the ICE servers (`Link`) and CORS preflight.
#[utoipa::path(options, path = "/api/v1/shows/{slug}/whep", tag = "media", params(("slug" = String, Path)), responses((status = 200)))]
async fn watch_options(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    options_answer(&state, &headers, "OPTIONS, POST")
}

/// Session resource options: CORS preflight for `DELETE`.
#[utoipa::path(options, path = "/api/v1/media/sessions/{session_id}", tag = "media", params(("session_id" = String, Path)), responses((status = 200)))]
async fn session_options(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    options_answer(&state, &headers, "OPTIONS, DELETE")
}

/// The 201 answer of WHIP and WHEP: the SDP answer, the session's resource URL, and the ICE
/// servers the client may use (`Link` headers, RFC 9725 section 4.6).
fn created(state: &AppState, opened: Opened) -> ApiResult<Response> {
    let location = format!("/api/v1/media/sessions/{}", opened.id);
    let etag = vetrina_media::stun::sdp_ufrag(&opened.answer).map(|ufrag| format!("\"{ufrag}\""));
    let mut response = (StatusCode::CREATED, opened.answer).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/sdp"));
    headers.insert(header::LOCATION, HeaderValue::from_str(&location).map_err(ApiError::internal)?);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The session's ICE credentials are its version (RFC 9725 section 4.3.1).
    if let Some(etag) = etag {
        headers.insert(header::ETAG, HeaderValue::from_str(&etag).map_err(ApiError::internal)?);
    }
    allow_cross_origin(headers);
    for link in state.config.ice_servers_now().iter().flat_map(|s| s.link_headers()) {
        headers.append(header::LINK, HeaderValue::from_str(&link).map_err(ApiError::internal)?);
    }
    Ok(response)
}

pub(crate) async fn show_by_slug(state: &AppState, slug: &str) -> ApiResult<Show> {
    state.store.show_by_slug(slug).await.map_err(|_| ApiError::not_found("show"))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PublishQuery {
    /// Replace a publisher that is already live (a new device, a crashed encoder that still
    /// holds the session).
    pub takeover: Option<bool>,
}

/// WHIP: publish the show's live video. The SDP offer is the body; the show's stream key is the
/// Bearer token. Answers 201 with the SDP answer and the session's URL in `Location`.
#[utoipa::path(post, path = "/api/v1/shows/{slug}/whip", tag = "media",
    params(("slug" = String, Path), PublishQuery),
    request_body(content = String, content_type = "application/sdp"),
    responses((status = 201, content_type = "application/sdp", body = String, description = "The SDP answer"),
              (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
async fn publish(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Query<PublishQuery>,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Response> {
    let media = media(&state)?;
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim());
    let unauthorized = |detail: &str, challenge: &'static str| {
        let mut r = ApiError::new(StatusCode::UNAUTHORIZED, detail).into_response();
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        r
    };
    let Some(key) = key else {
        return Ok(unauthorized("send the show's stream key as \"Authorization: Bearer <stream key>\"", "Bearer realm=\"vetrina\""));
    };
    let show = show_by_slug(&state, &slug).await?;
    let expected = state.store.stream_key(&show.id).await?;
    if !same_secret(key, &expected) {
        tracing::warn!(show_id = %show.id, "publish refused: wrong stream key");
        return Ok(unauthorized("the stream key is wrong (it may have been rotated)", "Bearer realm=\"vetrina\", error=\"invalid_token\""));
    }
    if show.status == ShowStatus::Ended {
        return Err(ApiError::conflict("the show has ended: schedule a new show to go live again"));
    }
    let offer = sdp_offer(&headers, &body)?;
    let opened = media.publish(show.id.as_str(), &offer, q.takeover.unwrap_or(false)).await.map_err(media_error)?;
    tracing::info!(show_id = %show.id, "publisher session created");
    created(&state, opened)
}

/// WHEP: watch the show. The SDP offer (receive-only audio and video) is the body. Answers 201
/// with the SDP answer and the session's URL. Viewers may connect before the host goes live;
/// video starts with the first keyframe.
#[utoipa::path(post, path = "/api/v1/shows/{slug}/whep", tag = "media",
    params(("slug" = String, Path)),
    request_body(content = String, content_type = "application/sdp"),
    responses((status = 201, content_type = "application/sdp", body = String, description = "The SDP answer"),
              (status = 400, body = crate::error::Problem), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn watch(State(state): State<AppState>, Path(slug): Path<String>, headers: HeaderMap, Body(body): Body) -> ApiResult<Response> {
    let media = media(&state)?;
    let show = show_by_slug(&state, &slug).await?;
    match show.status {
        ShowStatus::Draft => return Err(ApiError::not_found("show")),
        ShowStatus::Ended => return Err(ApiError::conflict("the show has ended")),
        ShowStatus::Scheduled | ShowStatus::Live => {}
    }
    let offer = sdp_offer(&headers, &body)?;
    created(&state, media.watch(show.id.as_str(), &offer).await.map_err(media_error)?)
}

/// Ends a WHIP or WHEP session (its URL is the `Location` of the 201).
#[utoipa::path(delete, path = "/api/v1/media/sessions/{session_id}", tag = "media",
    params(("session_id" = String, Path)),
    responses((status = 200, description = "Ended"), (status = 404, body = crate::error::Problem)))]
async fn end_session(State(state): State<AppState>, Path(session_id): Path<String>) -> ApiResult<StatusCode> {
    media(&state)?.close(&session_id).await.map_err(media_error)?;
    Ok(StatusCode::OK)
}

/// A byte range of a file of `len` bytes from a `Range` header (RFC 9110 14.2): `None` to send
/// the whole file (no header, another unit, several ranges, bad syntax), `Err` when unsatisfiable.
pub fn byte_range(header: Option<&str>, len: u64) -> Option<Result<(u64, u64), ()>> {
    let header = header?.trim();
    // Range units are case-insensitive (RFC 9110 section 14.1).
    let spec = header.get(..6).filter(|unit| unit.eq_ignore_ascii_case("bytes=")).map(|_| &header[6..])?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let range = match (first.parse::<u64>().ok(), last.parse::<u64>().ok()) {
        (Some(a), Some(b)) if a <= b => (a, b.min(len.saturating_sub(1))),
        (Some(_), Some(_)) => return None,
        (Some(a), None) if last.is_empty() => (a, len.saturating_sub(1)),
        (None, Some(n)) if first.is_empty() => {
            if n == 0 {
                return Some(Err(()));
            }
            (len.saturating_sub(n), len.saturating_sub(1))
        }
        _ => return None,
    };
    if range.0 >= len { Some(Err(())) } else { Some(Ok(range)) }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RecordingQuery {
    /// One part alone, from 1: a server restarted during a show starts a new part. Without it,
    /// the whole show: while live, the first part as it is written; once ended, every part end to
    /// end in the show's media time.
    pub part: Option<usize>,
}

/// The show's recording (fragmented MP4, or WebM for a VP8 host), while it is made and after.
/// Supports range requests, so players seek without downloading it all.
#[utoipa::path(get, path = "/api/v1/shows/{slug}/recording", tag = "media",
    params(("slug" = String, Path), RecordingQuery),
    responses((status = 200, content_type = "video/mp4", body = Vec<u8>), (status = 206, content_type = "video/mp4", body = Vec<u8>),
              (status = 404, body = crate::error::Problem), (status = 416, body = crate::error::Problem)))]
async fn recording(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Query<RecordingQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let show = show_by_slug(&state, &slug).await?;
    if show.status == ShowStatus::Draft {
        return Err(ApiError::not_found("show"));
    }
    let recordings = state.store.recordings(&show.id).await?;
    let ended = show.status == ShowStatus::Ended;
    let source = match q.part {
        Some(n) => {
            let Some(part) = n.checked_sub(1).and_then(|i| recordings.get(i)) else { return Err(ApiError::not_found("recording")) };
            crate::mp4::show_recording(&[(part.0.clone(), 0)], ended).await
        }
        None => crate::mp4::show_recording(&recordings, ended).await,
    };
    let Some(source) = source else { return Err(ApiError::not_found("recording")) };
    crate::mp4::serve(&source, "recording", &headers).await
}

/// What a viewer's page polls: whether the host is on air, and how many watch.
#[derive(Serialize, ToSchema)]
pub struct LiveState {
    pub status: ShowStatus,
    /// A host is connected and sending.
    pub publishing: bool,
    /// Viewers watching the video on this node.
    pub viewers: usize,
    /// The media clock: the wall time (Unix ms) of media time 0 in the recording; the moment a
    /// viewer saw is `wall - recording_started_at`.
    pub recording_started_at: Option<i64>,
    /// STUN/TURN servers for the page's RTCPeerConnection (viewers behind UDP-blocking networks).
    pub ice_servers: Vec<crate::IceServer>,
}

/// The show's live state: its status, whether the host is on air, the viewer count.
#[utoipa::path(get, path = "/api/v1/shows/{slug}/media", tag = "media",
    params(("slug" = String, Path)), responses((status = 200, body = LiveState), (status = 404, body = crate::error::Problem)))]
async fn show_media(State(state): State<AppState>, Path(slug): Path<String>) -> ApiResult<Json<LiveState>> {
    let show = show_by_slug(&state, &slug).await?;
    if show.status == ShowStatus::Draft {
        return Err(ApiError::not_found("show"));
    }
    let media = match &state.media {
        Some(m) => m.show(show.id.as_str()).await.map_err(media_error)?,
        None => Default::default(),
    };
    let recording_started_at = state.store.recordings(&show.id).await?.first().map(|(_, t)| *t);
    Ok(Json(LiveState {
        status: show.status,
        publishing: media.publishing,
        viewers: media.n_viewers,
        recording_started_at,
        ice_servers: state.config.ice_servers_now(),
    }))
}

/// Where and how a host publishes: for the studio page and for OBS (Settings > Stream >
/// Service: WHIP).
#[derive(Serialize, ToSchema)]
pub struct Ingest {
    pub whip_url: String,
    /// STUN/TURN servers for the studio's RTCPeerConnection.
    pub ice_servers: Vec<crate::IceServer>,
    /// OBS's "Bearer Token". Keep it secret: whoever has it can go live as this show.
    pub stream_key: String,
    pub whep_url: String,
}

async fn ingest_of(state: &AppState, org_id: &OrgId, show_id: &ShowId, key: String) -> ApiResult<Ingest> {
    let show = state.store.show(org_id, show_id).await.map_err(|_| ApiError::not_found("show"))?;
    let base = state.config.public_url.trim_end_matches('/');
    Ok(Ingest {
        ice_servers: state.config.ice_servers_now(),
        whip_url: format!("{base}/api/v1/shows/{}/whip", show.slug),
        whep_url: format!("{base}/api/v1/shows/{}/whep", show.slug),
        stream_key: key,
    })
}

/// The show's WHIP URL and stream key.
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/shows/{show_id}/ingest", tag = "media",
    params(("org_id" = String, Path), ("show_id" = String, Path)),
    responses((status = 200, body = Ingest), (status = 404, body = crate::error::Problem)))]
async fn ingest(State(state): State<AppState>, caller: Caller, Path((org_id, show_id)): Path<(OrgId, ShowId)>) -> ApiResult<Json<Ingest>> {
    caller.require_for_show(&state, &org_id, &show_id, Action::PresentShows).await?;
    state.store.show(&org_id, &show_id).await.map_err(|_| ApiError::not_found("show"))?;
    let key = state.store.stream_key(&show_id).await?;
    Ok(Json(ingest_of(&state, &org_id, &show_id, key).await?))
}

/// Replaces the stream key; the old one stops working for new publishers at once.
#[utoipa::path(post, path = "/api/v1/orgs/{org_id}/shows/{show_id}/ingest", tag = "media",
    params(("org_id" = String, Path), ("show_id" = String, Path)),
    responses((status = 200, body = Ingest), (status = 404, body = crate::error::Problem)))]
async fn rotate_stream_key(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, show_id)): Path<(OrgId, ShowId)>,
) -> ApiResult<Json<Ingest>> {
    caller.require_for_show(&state, &org_id, &show_id, Action::PresentShows).await?;
    let key = state.store.rotate_stream_key(&org_id, &show_id).await.map_err(|_| ApiError::not_found("show"))?;
    tracing::info!(show_id = %show_id, "stream key rotated");
    Ok(Json(ingest_of(&state, &org_id, &show_id, key).await?))
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn ranges() {
        assert_eq!(byte_range(None, 100), None);
        assert_eq!(byte_range(Some("bytes=0-9"), 100), Some(Ok((0, 9))));
        assert_eq!(byte_range(Some("Bytes=0-9"), 100), Some(Ok((0, 9))), "units in any case");
        assert_eq!(byte_range(Some("items=0-9"), 100), None);
        assert_eq!(byte_range(Some("bytes=90-"), 100), Some(Ok((90, 99))));
        assert_eq!(byte_range(Some("bytes=-10"), 100), Some(Ok((90, 99))));
        assert_eq!(byte_range(Some("bytes=50-500"), 100), Some(Ok((50, 99))));
        assert_eq!(byte_range(Some("bytes=100-"), 100), Some(Err(())));
        assert_eq!(byte_range(Some("bytes=-0"), 100), Some(Err(())));
        assert_eq!(byte_range(Some("bytes=9-0"), 100), None, "invalid: ignored");
        assert_eq!(byte_range(Some("bytes=0-1,5-6"), 100), None, "several ranges: the whole file");
        assert_eq!(byte_range(Some("items=0-1"), 100), None);
    }
}
