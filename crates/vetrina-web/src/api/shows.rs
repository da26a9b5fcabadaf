//! An organisation's shows: plan, schedule, line-up, hosts and creators, run of show, cover.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vetrina_domain::account::Action;
use vetrina_domain::ids::{OrgId, ShowId};
use vetrina_domain::show::{Show, ShowContext, ShowPatch, ShowPlan, ShowStatus};
use vetrina_store::now_ms;

use super::orgs::{IssuedInvitation, issue_invitation};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Body, Json, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_shows, create_show))
        .routes(routes!(get_show, update_show, delete_show))
        .routes(routes!(set_cover))
        .routes(routes!(invite_creator))
}

/// The organisation's shows: live and upcoming first.
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/shows", tag = "shows",
    params(("org_id" = String, Path)), responses((status = 200, body = Vec<Show>)))]
async fn list_shows(State(state): State<AppState>, caller: Caller, Path(org_id): Path<OrgId>) -> ApiResult<Json<Vec<Show>>> {
    caller.require(&state, &org_id, Action::Read).await?;
    Ok(Json(state.store.shows(&org_id).await?))
}

async fn apply(state: &AppState, org_id: &OrgId, show: Option<&Show>, patch: ShowPatch) -> ApiResult<ShowPlan> {
    let org = state.store.org(org_id).await?;
    let products = state.store.product_ids(org_id).await?;
    let hosts = state.store.eligible_hosts(org_id, show.map(|s| &s.id)).await?;
    let cx = ShowContext { now: now_ms(), products: &products, hosts: &hosts, default_time_zone: &org.time_zone };
    let current = show.map(ShowPlan::of);
    Ok(patch.apply(current.as_ref(), &cx)?)
}

/// Creates a show (a draft unless `status` says scheduled).
#[utoipa::path(post, path = "/api/v1/orgs/{org_id}/shows", tag = "shows", request_body = ShowPatch,
    params(("org_id" = String, Path)),
    responses((status = 201, body = Show), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_show(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<OrgId>,
    Json(patch): Json<ShowPatch>,
) -> ApiResult<crate::error::Created<Show>> {
    caller.require(&state, &org_id, Action::EditShows).await?;
    let plan = apply(&state, &org_id, None, patch).await?;
    if matches!(plan.status, ShowStatus::Live | ShowStatus::Ended) {
        return Err(vetrina_domain::Invalid::new("status", "a new show starts as a draft or scheduled").into());
    }
    let show = state.store.create_show(&org_id, &plan).await?;
    Ok(crate::error::created(format!("/api/v1/orgs/{org_id}/shows/{}", show.id), show))
}

/// One show, with its run of show.
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/shows/{show_id}", tag = "shows",
    params(("org_id" = String, Path), ("show_id" = String, Path)), responses((status = 200, body = Show), (status = 404, body = crate::error::Problem)))]
async fn get_show(State(state): State<AppState>, caller: Caller, Path((org_id, id)): Path<(OrgId, ShowId)>) -> ApiResult<Json<Show>> {
    caller.require_for_show(&state, &org_id, &id, Action::Read).await?;
    Ok(Json(state.store.show(&org_id, &id).await.map_err(|_| ApiError::not_found("show"))?))
}

/// What a patch touches decides who may send it: hosts and creators may change the run of show
/// and take the show live or end it; everything else is for those who edit shows.
fn action_for(patch: &ShowPatch) -> Action {
    let presenting_only = patch.title.is_none()
        && patch.slug.is_none()
        && patch.description.is_none()
        && patch.starts_at.is_none()
        && patch.time_zone.is_none()
        && patch.host_ids.is_none()
        && patch.lineup.is_none()
        && patch.status.is_none_or(|s| matches!(s, ShowStatus::Live | ShowStatus::Ended));
    if presenting_only { Action::PresentShows } else { Action::EditShows }
}

/// Changes a show: absent fields stay. Moves between states follow draft -> scheduled -> live -> ended.
#[utoipa::path(patch, path = "/api/v1/orgs/{org_id}/shows/{show_id}", tag = "shows", request_body = ShowPatch,
    params(("org_id" = String, Path), ("show_id" = String, Path)),
    responses((status = 200, body = Show), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
async fn update_show(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, id)): Path<(OrgId, ShowId)>,
    Json(patch): Json<ShowPatch>,
) -> ApiResult<Json<Show>> {
    caller.require_for_show(&state, &org_id, &id, action_for(&patch)).await?;
    let show = state.store.show(&org_id, &id).await.map_err(|_| ApiError::not_found("show"))?;
    let plan = apply(&state, &org_id, Some(&show), patch).await?;
    let updated = state.store.update_show(&org_id, &id, show.status, &plan).await?;
    if updated.status == ShowStatus::Ended
        && show.status != ShowStatus::Ended
        && let Some(media) = &state.media
    {
        // Ended by hand: close the recording now rather than after the grace period.
        let _ = media.end_show(id.as_str()).await;
    }
    Ok(Json(updated))
}

/// Deletes a show that is not live.
#[utoipa::path(delete, path = "/api/v1/orgs/{org_id}/shows/{show_id}", tag = "shows",
    params(("org_id" = String, Path), ("show_id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
async fn delete_show(State(state): State<AppState>, caller: Caller, Path((org_id, id)): Path<(OrgId, ShowId)>) -> ApiResult<StatusCode> {
    caller.require(&state, &org_id, Action::EditShows).await?;
    state.store.delete_show(&org_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Uploads the show's cover image (the raw bytes as the body).
#[utoipa::path(put, path = "/api/v1/orgs/{org_id}/shows/{show_id}/cover", tag = "shows",
    params(("org_id" = String, Path), ("show_id" = String, Path)),
    request_body(content = Vec<u8>, content_type = "image/jpeg"),
    responses((status = 200, body = Show), (status = 415, body = crate::error::Problem)))]
async fn set_cover(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, id)): Path<(OrgId, ShowId)>,
    Body(body): Body,
) -> ApiResult<Json<Show>> {
    caller.require(&state, &org_id, Action::EditShows).await?;
    let show = state.store.show(&org_id, &id).await.map_err(|_| ApiError::not_found("show"))?;
    let (src, _key) = super::products::store_image(&state, &org_id, body).await?;
    let updated = state.store.set_show_cover(&org_id, &id, Some(&src)).await?;
    if let Some(old) = show.cover_src.as_deref().and_then(|s| s.strip_prefix("/media/")) {
        let blobs = state.blobs.clone();
        let old = old.to_string();
        let _ = tokio::task::spawn_blocking(move || blobs.delete(&old)).await;
    }
    Ok(Json(updated))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCreator {
    pub email: String,
}

/// Invites a creator (a host from outside the organisation) to host this show.
#[utoipa::path(post, path = "/api/v1/orgs/{org_id}/shows/{show_id}/creators", tag = "shows", request_body = NewCreator,
    params(("org_id" = String, Path), ("show_id" = String, Path)),
    responses((status = 201, body = IssuedInvitation), (status = 404, body = crate::error::Problem)))]
async fn invite_creator(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, id)): Path<(OrgId, ShowId)>,
    Json(body): Json<NewCreator>,
) -> ApiResult<(StatusCode, Json<IssuedInvitation>)> {
    caller.require(&state, &org_id, Action::EditShows).await?;
    state.store.show(&org_id, &id).await.map_err(|_| ApiError::not_found("show"))?;
    Ok((StatusCode::CREATED, Json(issue_invitation(&state, &org_id, &body.email, None, Some(&id)).await?)))
}
