//! Signing in and out, guests, accepting invitations, and creating an organisation.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vetrina_domain::account::{self, Invitation, Org, Role, User};
use vetrina_domain::money::Currency;
use vetrina_domain::show::time_zone;
use vetrina_domain::text;
use vetrina_store::now_ms;

use crate::AppState;
use crate::auth::{self, Caller, ClientIp, GUEST_COOKIE, GuestViewer, SESSION_COOKIE, hash_secret, new_secret, set_cookie};
use crate::error::{ApiError, ApiResult, Json};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in, current_session, sign_out))
        .routes(routes!(create_guest))
        .routes(routes!(accept_invitation))
        .routes(routes!(create_org))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
}

/// The signed-in person, where they belong, and the token writes must echo.
#[derive(Serialize, ToSchema)]
pub struct SessionInfo {
    pub user: User,
    /// Send as `X-CSRF-Token` on every write made with the session cookie.
    pub csrf_token: String,
    pub memberships: Vec<Membership>,
    /// Shows of other organisations this person was invited to host as a creator.
    pub creator_shows: Vec<CreatorShow>,
}

#[derive(Serialize, ToSchema)]
pub struct Membership {
    pub org: Org,
    pub role: Role,
}

#[derive(Serialize, ToSchema)]
pub struct CreatorShow {
    pub org_id: String,
    pub show_id: String,
    pub title: String,
    pub slug: String,
}

async fn session_info(state: &AppState, user: User, csrf_token: String) -> ApiResult<SessionInfo> {
    let memberships = state.store.memberships(&user.id).await?.into_iter().map(|(org, role)| Membership { org, role }).collect();
    let creator_shows = state
        .store
        .creator_shows(&user.id)
        .await?
        .into_iter()
        .map(|s| CreatorShow { org_id: s.org_id.0, show_id: s.id.0, title: s.title, slug: s.slug })
        .collect();
    Ok(SessionInfo { user, csrf_token, memberships, creator_shows })
}

/// Opens a session and answers with the session cookie.
async fn start_session(state: &AppState, headers: &HeaderMap, user: User, status: StatusCode) -> ApiResult<Response> {
    let secret = new_secret();
    let csrf = new_secret();
    let max_age = state.config.session_days * 86_400;
    state.store.create_session(&user.id, &hash_secret(&secret), &csrf, now_ms() + max_age * 1000).await?;
    let info = session_info(state, user, csrf).await?;
    let cookie = set_cookie(SESSION_COOKIE, &secret, max_age, auth::secure_request(headers, state.config.secure_cookies()));
    let mut response = (status, Json(info)).into_response();
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(ApiError::internal)?);
    Ok(response)
}

/// One of the few slots for password hashing, waited for at most 2 s (then 503).
async fn password_slot(state: &AppState) -> ApiResult<tokio::sync::SemaphorePermit<'_>> {
    match tokio::time::timeout(std::time::Duration::from_secs(2), state.password_slots.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "too many sign-ins at once: try again in a moment")),
    }
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = SignIn,
    responses((status = 200, body = SessionInfo, description = "Signed in; the session cookie is set"),
              (status = 401, body = crate::error::Problem), (status = 429, body = crate::error::Problem)))]
async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Json(body): Json<SignIn>,
) -> ApiResult<Response> {
    state
        .sign_ins
        .take(ip, tokio::time::Instant::now())
        .map_err(|wait| ApiError::too_many(format!("too many sign-ins from your address: try again in {wait} s"), wait))?;
    let email = body.email.trim().to_lowercase();
    let found = state.store.user_by_email(&email).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, state.dummy_hash.to_string()),
    };
    let password = body.password.clone();
    let _slot = password_slot(&state).await?;
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash)).await.map_err(ApiError::internal)?;
    match (user, ok) {
        (Some(user), true) => {
            tracing::info!(user_id = %user.id, "signed in");
            start_session(&state, &headers, user, StatusCode::OK).await
        }
        _ => Err(ApiError::new(StatusCode::UNAUTHORIZED, "the email or the password is wrong")),
    }
}

/// The current session.
#[utoipa::path(get, path = "/api/v1/session", tag = "session",
    responses((status = 200, body = SessionInfo), (status = 401, body = crate::error::Problem)))]
async fn current_session(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<SessionInfo>> {
    match caller {
        Caller::Person { user, csrf_token, .. } => Ok(Json(session_info(&state, user, csrf_token).await?)),
        _ => Err(ApiError::unauthorized()),
    }
}

/// Sign out: ends the session and clears the cookie.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    responses((status = 204, description = "Signed out")))]
async fn sign_out(State(state): State<AppState>, headers: HeaderMap, caller: Caller) -> ApiResult<Response> {
    if let Caller::Person { session_hash, .. } = &caller {
        state.store.delete_session(session_hash).await?;
    }
    let cookie = set_cookie(SESSION_COOKIE, "", 0, auth::secure_request(&headers, state.config.secure_cookies()));
    Ok(([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGuest {
    pub display_name: String,
}

#[derive(Serialize, ToSchema)]
pub struct GuestInfo {
    pub id: String,
    pub display_name: String,
}

/// A viewer picks a display name without an account; a guest cookie remembers it.
#[utoipa::path(post, path = "/api/v1/guests", tag = "session", request_body = NewGuest,
    responses((status = 201, body = GuestInfo), (status = 422, body = crate::error::Problem), (status = 429, body = crate::error::Problem)))]
async fn create_guest(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    _existing: GuestViewer,
    Json(body): Json<NewGuest>,
) -> ApiResult<Response> {
    let name = account::display_name(&body.display_name)?;
    state
        .guests
        .take(ip, tokio::time::Instant::now())
        .map_err(|wait| ApiError::too_many(format!("too many guest names from your address: try again in {wait} s"), wait))?;
    let secret = new_secret();
    let guest = state.store.create_guest(&name, &hash_secret(&secret)).await?;
    let cookie = set_cookie(GUEST_COOKIE, &secret, 365 * 86_400, auth::secure_request(&headers, state.config.secure_cookies()));
    let body = GuestInfo { id: guest.id, display_name: guest.display_name };
    Ok((StatusCode::CREATED, [(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The secret from the invitation link.
    pub token: String,
    /// For someone without an account: their name and a new password.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

/// Accepts an invitation: signed in, for the current person; otherwise creates the account
/// (name and password) for the invited email and signs it in.
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "session", request_body = AcceptInvitation,
    responses((status = 200, body = SessionInfo), (status = 409, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
async fn accept_invitation(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    Json(body): Json<AcceptInvitation>,
) -> ApiResult<Response> {
    let token_hash = hash_secret(body.token.trim());
    let invitation: Invitation = state.store.invitation_by_token(&token_hash).await.map_err(|_| ApiError::not_found("invitation"))?;
    match caller {
        Caller::Person { user, csrf_token, .. } => {
            state.store.accept_invitation(&token_hash, &user.id, now_ms()).await?;
            Ok(Json(session_info(&state, user, csrf_token).await?).into_response())
        }
        Caller::Token(_) => Err(ApiError::forbidden("invitations are accepted by people, not API tokens")),
        Caller::Anonymous => {
            let (Some(name), Some(password)) = (body.name, body.password) else {
                return Err(ApiError::unauthorized());
            };
            if state.store.user_by_email(&invitation.email).await?.is_some() {
                return Err(ApiError::conflict(format!("{} already has an account: sign in, then accept", invitation.email)));
            }
            let name = text::name("name", &name, 100)?;
            let password = account::password(&password)?.to_string();
            let cost = state.config.password_cost;
            let _slot = password_slot(&state).await?;
            let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password, cost))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?;
            if invitation.accepted_at.is_some() || invitation.expires_at <= now_ms() {
                return Err(ApiError::conflict("this invitation was already used or has expired: ask for a new one"));
            }
            let user = state.store.create_user(&invitation.email, &name, &hash).await?;
            state.store.accept_invitation(&token_hash, &user.id, now_ms()).await?;
            start_session(&state, &headers, user, StatusCode::OK).await
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    pub name: String,
    /// ISO 4217 code of the catalogue's prices, `EUR` unless given.
    #[serde(default)]
    pub currency: Option<String>,
    /// IANA time zone, `Europe/Rome` unless given.
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// Creates an organisation with the caller as its owner.
#[utoipa::path(post, path = "/api/v1/orgs", tag = "orgs", request_body = NewOrg,
    responses((status = 201, body = Org), (status = 422, body = crate::error::Problem)))]
async fn create_org(State(state): State<AppState>, caller: Caller, Json(body): Json<NewOrg>) -> ApiResult<crate::error::Created<Org>> {
    let user = caller.user()?;
    let name = text::name("name", &body.name, 120)?;
    let currency = Currency::parse(body.currency.as_deref().unwrap_or("EUR"))?;
    let tz = time_zone(body.time_zone.as_deref().unwrap_or("Europe/Rome"))?;
    let org = state.store.create_org(&name, &currency, &tz, &user.id).await?;
    Ok(crate::error::created(format!("/api/v1/orgs/{}", org.id), org))
}
