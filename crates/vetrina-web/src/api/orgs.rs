//! An organisation's settings, team, invitations and API tokens.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vetrina_domain::account::{self, Action, ApiToken, Invitation, Member, Org, Role, RoomBan};
use vetrina_domain::ids::{InvitationId, OrgId, ShowId, TokenId, UserId};
use vetrina_domain::money::Currency;
use vetrina_domain::show::time_zone;
use vetrina_domain::text;
use vetrina_store::now_ms;

use crate::AppState;
use crate::auth::{Caller, TOKEN_PREFIX, hash_secret, new_secret};
use crate::error::{ApiError, ApiResult, Json, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_org, update_org))
        .routes(routes!(list_members))
        .routes(routes!(update_member, remove_member))
        .routes(routes!(list_invitations, create_invitation))
        .routes(routes!(delete_invitation))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(delete_token))
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(get_webhook, delete_webhook))
        .routes(routes!(list_deliveries))
        .routes(routes!(send_again))
        .routes(routes!(list_bans))
        .routes(routes!(lift_ban))
}

/// How long an invitation link stays valid.
const INVITATION_DAYS: i64 = 14;

/// The organisation.
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}", tag = "orgs",
    params(("org_id" = String, Path)), responses((status = 200, body = Org), (status = 404, body = crate::error::Problem)))]
async fn get_org(State(state): State<AppState>, caller: Caller, Path(org_id): Path<OrgId>) -> ApiResult<Json<Org>> {
    caller.require(&state, &org_id, Action::Read).await?;
    Ok(Json(state.store.org(&org_id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgPatch {
    pub name: Option<String>,
    pub currency: Option<String>,
    pub time_zone: Option<String>,
    /// Words the live chat refuses in viewers' messages.
    pub blocked_words: Option<Vec<String>>,
    /// Shipping, taxes and the merchant's own shop (replaces the settings whole).
    pub shop: Option<vetrina_domain::shop::ShopSettings>,
}

/// Renames the organisation or changes its currency or time zone.
#[utoipa::path(patch, path = "/api/v1/orgs/{org_id}", tag = "orgs", request_body = OrgPatch,
    params(("org_id" = String, Path)), responses((status = 200, body = Org), (status = 422, body = crate::error::Problem)))]
async fn update_org(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<OrgId>,
    Json(body): Json<OrgPatch>,
) -> ApiResult<Json<Org>> {
    caller.require(&state, &org_id, Action::ManageOrg).await?;
    let mut org = state.store.org(&org_id).await?;
    if let Some(n) = body.name {
        org.name = text::name("name", &n, 120)?;
    }
    if let Some(c) = body.currency {
        org.currency = Currency::parse(&c)?;
    }
    if let Some(tz) = body.time_zone {
        org.time_zone = time_zone(&tz)?;
    }
    if let Some(words) = body.blocked_words {
        org.blocked_words = account::blocked_words(&words)?;
    }
    if let Some(shop) = body.shop {
        shop.validate()?;
        org.shop = shop;
    }
    Ok(Json(state.store.update_org(&org).await?))
}

/// The team.
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/members", tag = "orgs",
    params(("org_id" = String, Path)), responses((status = 200, body = Vec<Member>)))]
async fn list_members(State(state): State<AppState>, caller: Caller, Path(org_id): Path<OrgId>) -> ApiResult<Json<Vec<Member>>> {
    caller.require(&state, &org_id, Action::Read).await?;
    Ok(Json(state.store.members(&org_id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberPatch {
    pub role: Role,
}

/// Checks the caller may give or take `role` to/from the member `user`.
async fn check_assign(state: &AppState, caller: &Caller, org_id: &OrgId, user: &UserId, role: Option<Role>) -> ApiResult<()> {
    let access = caller.require(state, org_id, Action::ManageTeam).await?;
    let mine = access.role.unwrap_or(Role::Moderator);
    let theirs = state.store.role_in(org_id, user).await?.ok_or_else(|| ApiError::not_found("member"))?;
    if !mine.may_assign(theirs) || role.is_some_and(|r| !mine.may_assign(r)) {
        return Err(ApiError::forbidden("only an owner can make or change owners"));
    }
    Ok(())
}

/// Changes a member's role.
#[utoipa::path(patch, path = "/api/v1/orgs/{org_id}/members/{user_id}", tag = "orgs", request_body = MemberPatch,
    params(("org_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 200, body = Vec<Member>), (status = 409, body = crate::error::Problem)))]
async fn update_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, user_id)): Path<(OrgId, UserId)>,
    Json(body): Json<MemberPatch>,
) -> ApiResult<Json<Vec<Member>>> {
    check_assign(&state, &caller, &org_id, &user_id, Some(body.role)).await?;
    state.store.set_role(&org_id, &user_id, body.role).await?;
    Ok(Json(state.store.members(&org_id).await?))
}

/// Removes a member from the organisation.
#[utoipa::path(delete, path = "/api/v1/orgs/{org_id}/members/{user_id}", tag = "orgs",
    params(("org_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 409, body = crate::error::Problem)))]
async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, user_id)): Path<(OrgId, UserId)>,
) -> ApiResult<StatusCode> {
    check_assign(&state, &caller, &org_id, &user_id, None).await?;
    state.store.remove_member(&org_id, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Open invitations.
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/invitations", tag = "orgs",
    params(("org_id" = String, Path)), responses((status = 200, body = Vec<Invitation>)))]
async fn list_invitations(State(state): State<AppState>, caller: Caller, Path(org_id): Path<OrgId>) -> ApiResult<Json<Vec<Invitation>>> {
    caller.require(&state, &org_id, Action::ManageTeam).await?;
    Ok(Json(state.store.invitations(&org_id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    pub email: String,
    pub role: Role,
}

/// An invitation with the link that accepts it. The link is shown only once.
#[derive(Serialize, ToSchema)]
pub struct IssuedInvitation {
    pub invitation: Invitation,
    /// The secret of the link; only its hash is kept.
    pub token: String,
    pub accept_url: String,
}

pub(crate) async fn issue_invitation(
    state: &AppState,
    org_id: &OrgId,
    email: &str,
    role: Option<Role>,
    show: Option<&ShowId>,
) -> ApiResult<IssuedInvitation> {
    let email = account::email(email)?;
    let token = new_secret();
    let expires_at = now_ms() + INVITATION_DAYS * 86_400_000;
    let invitation = state.store.create_invitation(org_id, &email, role, show, &hash_secret(&token), expires_at).await?;
    let accept_url = format!("{}/console#/join/{token}", state.config.public_url.trim_end_matches('/'));
    Ok(IssuedInvitation { invitation, token, accept_url })
}

/// Invites someone to the team with a role.
#[utoipa::path(post, path = "/api/v1/orgs/{org_id}/invitations", tag = "orgs", request_body = NewInvitation,
    params(("org_id" = String, Path)), responses((status = 201, body = IssuedInvitation), (status = 422, body = crate::error::Problem)))]
async fn create_invitation(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<OrgId>,
    Json(body): Json<NewInvitation>,
) -> ApiResult<(StatusCode, Json<IssuedInvitation>)> {
    let access = caller.require(&state, &org_id, Action::ManageTeam).await?;
    if !access.role.is_some_and(|r| r.may_assign(body.role)) {
        return Err(ApiError::forbidden("only an owner can invite owners"));
    }
    Ok((StatusCode::CREATED, Json(issue_invitation(&state, &org_id, &body.email, Some(body.role), None).await?)))
}

/// Withdraws an invitation.
#[utoipa::path(delete, path = "/api/v1/orgs/{org_id}/invitations/{invitation_id}", tag = "orgs",
    params(("org_id" = String, Path), ("invitation_id" = String, Path)), responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn delete_invitation(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, invitation_id)): Path<(OrgId, InvitationId)>,
) -> ApiResult<StatusCode> {
    caller.require(&state, &org_id, Action::ManageTeam).await?;
    state.store.delete_invitation(&org_id, &invitation_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The organisation's API tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/tokens", tag = "orgs",
    params(("org_id" = String, Path)), responses((status = 200, body = Vec<ApiToken>)))]
async fn list_tokens(State(state): State<AppState>, caller: Caller, Path(org_id): Path<OrgId>) -> ApiResult<Json<Vec<ApiToken>>> {
    caller.require(&state, &org_id, Action::ManageTokens).await?;
    Ok(Json(state.store.api_tokens(&org_id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
    /// The permissions the token acts with: admin, host or moderator.
    pub role: Role,
}

#[derive(Serialize, ToSchema)]
pub struct IssuedToken {
    pub token: ApiToken,
    /// Send as `Authorization: Bearer <secret>`. Shown once; only its hash is kept.
    pub secret: String,
}

/// Creates an API token for an integration.
#[utoipa::path(post, path = "/api/v1/orgs/{org_id}/tokens", tag = "orgs", request_body = NewToken,
    params(("org_id" = String, Path)), responses((status = 201, body = IssuedToken), (status = 422, body = crate::error::Problem)))]
async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<OrgId>,
    Json(body): Json<NewToken>,
) -> ApiResult<(StatusCode, Json<IssuedToken>)> {
    let access = caller.require(&state, &org_id, Action::ManageTokens).await?;
    if body.role == Role::Owner {
        return Err(vetrina_domain::Invalid::new("role", "a token cannot act as an owner: use admin, host or moderator").into());
    }
    if !access.role.is_some_and(|r| r.may_assign(body.role)) {
        return Err(ApiError::forbidden("you cannot create a token more powerful than yourself"));
    }
    let name = text::name("name", &body.name, 100)?;
    let secret = format!("{TOKEN_PREFIX}{}", new_secret());
    let token = state.store.create_api_token(&org_id, &name, body.role, &hash_secret(&secret)).await?;
    // No `Location`: a token is not read back (its secret is shown once, here).
    Ok((StatusCode::CREATED, Json(IssuedToken { token, secret })))
}

/// Revokes an API token.
#[utoipa::path(delete, path = "/api/v1/orgs/{org_id}/tokens/{token_id}", tag = "orgs",
    params(("org_id" = String, Path), ("token_id" = String, Path)), responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn delete_token(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, token_id)): Path<(OrgId, TokenId)>,
) -> ApiResult<StatusCode> {
    caller.require(&state, &org_id, Action::ManageTokens).await?;
    state.store.delete_api_token(&org_id, &token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Viewers banned from the organisation's live chats (by a host or moderator in a show's room),
/// newest first.
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/bans", tag = "orgs",
    params(("org_id" = String, Path)), responses((status = 200, body = Vec<RoomBan>), (status = 404, body = crate::error::Problem)))]
async fn list_bans(State(state): State<AppState>, caller: Caller, Path(org_id): Path<OrgId>) -> ApiResult<Json<Vec<RoomBan>>> {
    caller.require(&state, &org_id, Action::Moderate).await?;
    Ok(Json(state.store.bans(&org_id).await?))
}

/// Lifts a ban: the viewer may chat again (running rooms learn it within 10 s). The show where
/// the ban was made logs who lifted it (a `moderation` event of its timeline).
#[utoipa::path(delete, path = "/api/v1/orgs/{org_id}/bans/{identity}", tag = "orgs",
    params(("org_id" = String, Path), ("identity" = String, Path, description = "usr_... or gst_...")),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn lift_ban(State(state): State<AppState>, caller: Caller, Path((org_id, identity)): Path<(OrgId, String)>) -> ApiResult<StatusCode> {
    caller.require(&state, &org_id, Action::Moderate).await?;
    state.store.unban(&org_id, &identity, &caller.display_name(), now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where events are POSTed: `https://...` (or `http://` for a server on the same network).
    pub url: String,
    /// Any of `order.created`, `order.paid`, `order.cancelled`, `show.live`, `show.ended`.
    pub events: Vec<String>,
}

/// The shop's webhook endpoints (with their signing secrets).
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/webhooks", tag = "orgs",
    params(("org_id" = String, Path)), responses((status = 200, body = Vec<vetrina_store::webhooks::Webhook>)))]
async fn list_webhooks(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<OrgId>,
) -> ApiResult<Json<Vec<vetrina_store::webhooks::Webhook>>> {
    caller.require(&state, &org_id, Action::ManageOrg).await?;
    Ok(Json(state.store.webhooks(&org_id).await?))
}

/// One endpoint (with its signing secret).
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/webhooks/{webhook_id}", tag = "orgs",
    params(("org_id" = String, Path), ("webhook_id" = String, Path)),
    responses((status = 200, body = vetrina_store::webhooks::Webhook), (status = 404, body = crate::error::Problem)))]
async fn get_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, id)): Path<(OrgId, String)>,
) -> ApiResult<Json<vetrina_store::webhooks::Webhook>> {
    caller.require(&state, &org_id, Action::ManageOrg).await?;
    // An organisation has a handful of endpoints.
    let webhook = state.store.webhooks(&org_id).await?.into_iter().find(|w| w.id == id);
    Ok(Json(webhook.ok_or_else(|| ApiError::not_found("webhook"))?))
}

/// Registers an endpoint; the answer holds its signing secret (`whsec_...`, Standard Webhooks).
#[utoipa::path(post, path = "/api/v1/orgs/{org_id}/webhooks", tag = "orgs", request_body = NewWebhook,
    params(("org_id" = String, Path)),
    responses((status = 201, body = vetrina_store::webhooks::Webhook), (status = 422, body = crate::error::Problem)))]
async fn create_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<OrgId>,
    Json(body): Json<NewWebhook>,
) -> ApiResult<crate::error::Created<vetrina_store::webhooks::Webhook>> {
    caller.require(&state, &org_id, Action::ManageOrg).await?;
    let url = body.url.trim();
    let parsed =
        url.split_once("://").filter(|(scheme, rest)| matches!(*scheme, "https" | "http") && !rest.is_empty() && !rest.starts_with('/'));
    if parsed.is_none() || url.len() > 2_000 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::unprocessable("url must be an http:// or https:// address").with_field("url"));
    }
    if !state.config.webhooks_private_networks
        && let Some(refused) = crate::webhooks::refuse_private(url)
    {
        return Err(ApiError::unprocessable(refused).with_field("url"));
    }
    if body.events.is_empty() || body.events.iter().any(|e| !vetrina_store::webhooks::EVENTS.contains(&e.as_str())) {
        return Err(
            ApiError::unprocessable(format!("events: one or more of {}", vetrina_store::webhooks::EVENTS.join(", "))).with_field("events")
        );
    }
    let mut events = body.events.clone();
    events.sort();
    events.dedup();
    let webhook = state.store.create_webhook(&org_id, url, &events, now_ms()).await?;
    Ok(crate::error::created(format!("/api/v1/orgs/{org_id}/webhooks/{}", webhook.id), webhook))
}

/// Removes an endpoint (and its delivery log).
#[utoipa::path(delete, path = "/api/v1/orgs/{org_id}/webhooks/{webhook_id}", tag = "orgs",
    params(("org_id" = String, Path), ("webhook_id" = String, Path)), responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn delete_webhook(State(state): State<AppState>, caller: Caller, Path((org_id, id)): Path<(OrgId, String)>) -> ApiResult<StatusCode> {
    caller.require(&state, &org_id, Action::ManageOrg).await?;
    state.store.delete_webhook(&org_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An endpoint's latest 100 deliveries: what was sent, how often, what the endpoint answered.
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/webhooks/{webhook_id}/deliveries", tag = "orgs",
    params(("org_id" = String, Path), ("webhook_id" = String, Path)),
    responses((status = 200, body = Vec<vetrina_store::webhooks::Delivery>), (status = 404, body = crate::error::Problem)))]
async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, id)): Path<(OrgId, String)>,
) -> ApiResult<Json<Vec<vetrina_store::webhooks::Delivery>>> {
    caller.require(&state, &org_id, Action::ManageOrg).await?;
    Ok(Json(state.store.deliveries(&org_id, &id, 100).await?))
}

/// Sends a delivery again now (and retries it on the usual schedule if it fails again).
#[utoipa::path(post, path = "/api/v1/orgs/{org_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", tag = "orgs",
    params(("org_id" = String, Path), ("webhook_id" = String, Path), ("delivery_id" = String, Path)),
    responses((status = 202), (status = 404, body = crate::error::Problem)))]
async fn send_again(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, webhook, delivery)): Path<(OrgId, String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(&state, &org_id, Action::ManageOrg).await?;
    state.store.send_again(&org_id, &webhook, &delivery, now_ms()).await.map_err(|_| ApiError::not_found("delivery"))?;
    Ok(StatusCode::ACCEPTED)
}
