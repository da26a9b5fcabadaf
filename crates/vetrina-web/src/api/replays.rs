//! Replays: a show's chapters (its pins and run-of-show segments on the media clock), clips cut
//! from its recording on keyframes, and their public pages' data.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vetrina_domain::account::Action;
use vetrina_domain::ids::{ClipId, OrgId, ShowId};
use vetrina_domain::replay::{Chapter, Clip, ClipRequest, SuggestedClip, suggested_clips};
use vetrina_domain::show::ShowStatus;
use vetrina_media::clip::{ClipError, Index};
use vetrina_store::now_ms;

use super::media::show_by_slug;
use super::public::PublicShow;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Json, Path};
use crate::mp4::Source;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(chapters))
        .routes(routes!(list_clips, cut_clip))
        .routes(routes!(delete_clip))
        .routes(routes!(public_clip))
        .routes(routes!(clip_video))
}

/// A show's chapters, and where its recording is.
#[derive(Serialize, ToSchema)]
pub struct Chapters {
    pub status: ShowStatus,
    pub chapters: Vec<Chapter>,
    /// The recording (while it is made too), absent before the first frame.
    pub recording_url: Option<String>,
}

/// The show's chapters: one per pin and per run-of-show segment, by media time. Late joiners of
/// a live show see what was shown already; the replay puts them on its seek bar.
#[utoipa::path(get, path = "/api/v1/shows/{slug}/chapters", tag = "replays",
    params(("slug" = String, Path)), responses((status = 200, body = Chapters), (status = 404, body = crate::error::Problem)))]
async fn chapters(State(state): State<AppState>, Path(slug): Path<String>) -> ApiResult<Json<Chapters>> {
    let show = show_by_slug(&state, &slug).await?;
    if show.status == ShowStatus::Draft {
        return Err(ApiError::not_found("show"));
    }
    let recorded = !state.store.recordings(&show.id).await?.is_empty();
    let base = state.config.public_url.trim_end_matches('/');
    Ok(Json(Chapters {
        status: show.status,
        chapters: state.store.chapters(&show.id).await?,
        recording_url: recorded.then(|| format!("{base}/api/v1/shows/{}/recording", show.slug)),
    }))
}

/// The show's clips and the ones worth cutting (one per run-of-show segment).
#[derive(Serialize, ToSchema)]
pub struct ShowClips {
    pub clips: Vec<PublishedClip>,
    pub suggested: Vec<SuggestedClip>,
    /// How long the recording is (ms), absent without one.
    pub recording_ms: Option<i64>,
}

/// A clip with its public page and video.
#[derive(Serialize, ToSchema)]
pub struct PublishedClip {
    #[serde(flatten)]
    pub clip: Clip,
    pub page_url: String,
    pub video_url: String,
}

fn published(state: &AppState, clip: Clip) -> PublishedClip {
    let base = state.config.public_url.trim_end_matches('/');
    PublishedClip { page_url: format!("{base}/clips/{}", clip.id), video_url: format!("{base}/api/v1/clips/{}/video", clip.id), clip }
}

fn is_webm(path: &str) -> bool {
    path.ends_with(".webm")
}

/// Why a show's recording gives no clips: it is WebM (a VP8 publisher).
const WEBM_NO_CLIPS: &str =
    "clips are cut from H.264 recordings (MP4); this show's host sent VP8 video, recorded as WebM: it replays, but cannot be clipped";

/// The show's recording as it is served (every part, once the show has ended) and its index,
/// read off the async threads; `None` without a recording, `Err` 409 for a WebM recording (VP8),
/// which clips are not cut from.
async fn recording_index(state: &AppState, show: &ShowId, ended: bool) -> ApiResult<Option<(Arc<Source>, Index)>> {
    let recordings = state.store.recordings(show).await?;
    if recordings.first().is_some_and(|(path, _)| is_webm(path)) {
        return Err(ApiError::conflict(WEBM_NO_CLIPS));
    }
    let Some(source) = crate::mp4::show_recording(&recordings, ended).await else { return Ok(None) };
    let read = source.clone();
    let index = tokio::task::spawn_blocking(move || -> Result<Index, ClipError> { Index::read(&mut read.reader()?) })
        .await
        .map_err(ApiError::internal)?;
    match index {
        Ok(index) => Ok(Some((source, index))),
        Err(ClipError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// The show's clips, and suggestions from its run of show.
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/shows/{show_id}/clips", tag = "replays",
    params(("org_id" = String, Path), ("show_id" = String, Path)),
    responses((status = 200, body = ShowClips), (status = 404, body = crate::error::Problem)))]
async fn list_clips(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, show_id)): Path<(OrgId, ShowId)>,
) -> ApiResult<Json<ShowClips>> {
    caller.require_for_show(&state, &org_id, &show_id, Action::PresentShows).await?;
    let show = state.store.show(&org_id, &show_id).await.map_err(|_| ApiError::not_found("show"))?;
    let clips = state.store.clips(&org_id, &show.id).await?.into_iter().map(|c| published(&state, c)).collect();
    // A WebM recording has no clips to suggest.
    let webm = state.store.recordings(&show.id).await?.first().is_some_and(|(path, _)| is_webm(path));
    let ended = show.status == ShowStatus::Ended;
    let recording_ms = if webm { None } else { recording_index(&state, &show.id, ended).await?.map(|(_, i)| i.end_ms) };
    let suggested = match recording_ms {
        Some(end) => suggested_clips(&state.store.chapters(&show.id).await?, end),
        None => Vec::new(),
    };
    Ok(Json(ShowClips { clips, suggested, recording_ms }))
}

/// Cuts a clip from the show's recording, on keyframes and without re-encoding: from the
/// keyframe at or before `start_ms` to the next keyframe after `end_ms`.
#[utoipa::path(post, path = "/api/v1/orgs/{org_id}/shows/{show_id}/clips", tag = "replays", request_body = ClipRequest,
    params(("org_id" = String, Path), ("show_id" = String, Path)),
    responses((status = 201, body = PublishedClip), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn cut_clip(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, show_id)): Path<(OrgId, ShowId)>,
    Json(request): Json<ClipRequest>,
) -> ApiResult<crate::error::Created<PublishedClip>> {
    caller.require_for_show(&state, &org_id, &show_id, Action::PresentShows).await?;
    let show = state.store.show(&org_id, &show_id).await.map_err(|_| ApiError::not_found("show"))?;
    let request = request.validate()?;
    let Some((source, index)) = recording_index(&state, &show.id, show.status == ShowStatus::Ended).await? else {
        return Err(ApiError::conflict("the show has no recording yet: clips are cut from it"));
    };
    // Check the range before writing anything: a bad range leaves no file behind.
    index.span(request.start_ms, request.end_ms).map_err(|e| vetrina_domain::Invalid::new("end_ms", e.to_string()))?;
    let id = state.store.new_clip_id();
    let dir = state.config.clips_dir.clone();
    let target = dir.join(format!("{id}.mp4"));
    let (from, to) = (request.start_ms, request.end_ms);
    let written = target.clone();
    let cut = tokio::task::spawn_blocking(move || -> Result<vetrina_media::clip::Cut, ClipError> {
        std::fs::create_dir_all(&dir)?;
        let partial = written.with_extension("mp4.part");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&partial)?);
        let cut = index.cut(&mut source.reader()?, from, to, &mut out);
        drop(out);
        match cut {
            Ok(cut) => {
                std::fs::rename(&partial, &written)?;
                Ok(cut)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(e)
            }
        }
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| match e {
        ClipError::Range(reason) => vetrina_domain::Invalid::new("end_ms", reason).into(),
        e => ApiError::internal(e),
    })?;
    let path = target.display().to_string();
    let clip =
        state.store.add_clip(&id, &org_id, &show.id, &request.title, (cut.start_ms, cut.end_ms), &path, cut.bytes as i64, now_ms()).await;
    match clip {
        Ok(clip) => {
            tracing::info!(clip = %clip.id, show = %show.id, from = cut.start_ms, to = cut.end_ms, "clip cut");
            Ok(crate::error::created(format!("/api/v1/clips/{}", clip.id), published(&state, clip)))
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&target).await;
            Err(e.into())
        }
    }
}

/// Deletes a clip and its file.
#[utoipa::path(delete, path = "/api/v1/orgs/{org_id}/shows/{show_id}/clips/{clip_id}", tag = "replays",
    params(("org_id" = String, Path), ("show_id" = String, Path), ("clip_id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn delete_clip(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, show_id, clip_id)): Path<(OrgId, ShowId, ClipId)>,
) -> ApiResult<StatusCode> {
    caller.require_for_show(&state, &org_id, &show_id, Action::PresentShows).await?;
    let clip = state.store.clip(clip_id.as_str()).await.map_err(|_| ApiError::not_found("clip"))?;
    if clip.org_id != org_id || clip.clip.show_id != show_id {
        return Err(ApiError::not_found("clip"));
    }
    let path = state.store.delete_clip(&org_id, &clip_id).await.map_err(|_| ApiError::not_found("clip"))?;
    if let Err(e) = tokio::fs::remove_file(&path).await {
        tracing::warn!(clip = %clip_id, error = %e, "the clip's file could not be removed");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// What a clip's public page shows: the clip, its show with the line-up, the chapters inside it.
#[derive(Serialize, ToSchema)]
pub struct ClipPage {
    #[serde(flatten)]
    pub clip: PublishedClip,
    pub show: PublicShow,
    /// The chapters inside the clip (media times of the show, like the clip's range).
    pub chapters: Vec<Chapter>,
}

/// A clip's public page data.
#[utoipa::path(get, path = "/api/v1/clips/{clip_id}", tag = "replays",
    params(("clip_id" = String, Path)), responses((status = 200, body = ClipPage), (status = 404, body = crate::error::Problem)))]
async fn public_clip(State(state): State<AppState>, Path(clip_id): Path<String>) -> ApiResult<Json<ClipPage>> {
    let file = state.store.clip(&clip_id).await.map_err(|_| ApiError::not_found("clip"))?;
    let show = state.store.show(&file.org_id, &file.clip.show_id).await.map_err(|_| ApiError::not_found("clip"))?;
    let public = super::public::make_public_show(&state, &show.slug).await.map_err(|_| ApiError::not_found("clip"))?;
    let (from, to) = (file.clip.start_ms, file.clip.end_ms);
    // The chapter running when the clip starts counts too.
    let all = state.store.chapters(&show.id).await?;
    let first = all.iter().rposition(|c| c.media_ms <= from).unwrap_or(0);
    let chapters = all.into_iter().skip(first).filter(|c| c.media_ms < to).collect();
    Ok(Json(ClipPage { clip: published(&state, file.clip), show: public, chapters }))
}

/// The clip's video (MP4), with range requests.
#[utoipa::path(get, path = "/api/v1/clips/{clip_id}/video", tag = "replays",
    params(("clip_id" = String, Path)),
    responses((status = 200, content_type = "video/mp4", body = Vec<u8>), (status = 206, content_type = "video/mp4", body = Vec<u8>),
              (status = 404, body = crate::error::Problem), (status = 416, body = crate::error::Problem)))]
async fn clip_video(State(state): State<AppState>, Path(clip_id): Path<String>, headers: HeaderMap) -> ApiResult<Response> {
    let file = state.store.clip(&clip_id).await.map_err(|_| ApiError::not_found("clip"))?;
    crate::mp4::serve(&crate::mp4::Source::file(&file.path), "clip", &headers).await
}
