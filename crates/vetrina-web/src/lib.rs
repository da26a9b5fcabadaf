//! Vetrina's web plane: the JSON API under `/api/v1`, authentication, and the pages (merchant
//! console, public show page) embedded in the binary.
//!
//! Only this crate knows HTTP. Handlers check who is calling ([`auth`]), turn input into domain
//! values (`vetrina-domain` checks the rules), call the [`Store`], and answer JSON or a problem
//! document ([`error`]). The OpenAPI document is collected from the handlers' annotations as the
//! router is built, so it cannot drift from the routes.

pub mod api;
pub mod auth;
mod budget;
pub mod bus;
pub mod cache;
pub mod error;
pub mod live;
pub mod mail;
pub mod mp4;
pub mod net;
mod pages;
pub mod shop;
pub mod webhooks;
pub mod websocket;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use vetrina_domain::account::Role;
use vetrina_domain::ids::{OrgId, UserId};
use vetrina_store::Store;
use vetrina_store::blobs::Blobs;

pub use auth::PasswordCost;
use cache::{Cache, Generation};

/// The web plane's part of the configuration.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// The address people reach this server at (`https://live.example.com`), used in links
    /// (invitations, calendars). When it starts with `https://`, cookies are marked `Secure`.
    pub public_url: String,
    /// Largest request body accepted, in bytes (uploads and imports included).
    pub max_body_bytes: usize,
    /// How long a sign-in lasts.
    pub session_days: i64,
    /// How long hot read answers may be served from memory (zero: never).
    pub answer_cache: Duration,
    pub password_cost: PasswordCost,
    /// STUN/TURN servers offered to browsers and WHIP/WHEP clients (for viewers whose network
    /// blocks UDP: a TURN server relaying over TCP or TLS).
    pub ice_servers: Vec<IceServer>,
    /// How long an item added to a cart stays reserved for the buyer.
    pub hold_minutes: i64,
    /// Most add-to-cart requests decided in one transaction.
    pub ledger_batch: usize,
    /// How long a new connection may take to send its first request's headers.
    pub header_timeout: Duration,
    /// How long a connection (not a WebSocket) may stay with nothing moving either way.
    pub idle_timeout: Duration,
    /// How often a live room's state is saved (and when the room closes).
    pub room_state_every: Duration,
    /// Viewers' chat lines a second a room's frames carry at most (a fair sample above it).
    pub chat_lines_per_second: usize,
    /// Where clips cut from recordings are written.
    pub clips_dir: std::path::PathBuf,
    /// Webhooks may call private and local addresses (see `webhooks::is_public`).
    pub webhooks_private_networks: bool,
}

/// A STUN or TURN server clients may use.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct IceServer {
    /// `turn:turn.example.com:443?transport=tcp`, `turns:...`, `stun:...`.
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// A TURN server's shared secret (coturn's `static-auth-secret`): clients get credentials
    /// made from it that expire (the TURN REST API: `username` = expiry:vetrina, `credential` =
    /// base64 of HMAC-SHA1(secret, username)) instead of a password that never does. Never sent.
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub secret: Option<String>,
    /// How long issued credentials last (default a day).
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub ttl_seconds: Option<u64>,
}

impl IceServer {
    /// This server as clients get it at `now` (Unix seconds): with time-limited credentials when
    /// it has a secret, never with the secret.
    pub fn issued(&self, now: i64) -> IceServer {
        use base64::Engine;
        use hmac::{Hmac, Mac};
        let mut server = IceServer { secret: None, ttl_seconds: None, ..self.clone() };
        if let Some(secret) = &self.secret
            && let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes())
        {
            let username = format!("{}:vetrina", now + self.ttl_seconds.unwrap_or(86_400) as i64);
            mac.update(username.as_bytes());
            server.credential = Some(base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()));
            server.username = Some(username);
        }
        server
    }

    /// `Link` header values (RFC 9725 section 4.6) announcing this server.
    pub fn link_headers(&self) -> Vec<String> {
        self.urls
            .iter()
            .map(|url| {
                let mut link = format!("<{url}>; rel=\"ice-server\"");
                if let (Some(user), Some(credential)) = (&self.username, &self.credential) {
                    link.push_str(&format!("; username=\"{user}\"; credential=\"{credential}\"; credential-type=\"password\""));
                }
                link
            })
            .collect()
    }
}

impl WebConfig {
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// The STUN/TURN servers as clients get them now (fresh TURN credentials where configured).
    pub fn ice_servers_now(&self) -> Vec<IceServer> {
        let now = vetrina_store::now_ms() / 1000;
        self.ice_servers.iter().map(|s| s.issued(now)).collect()
    }
}

/// What every handler can reach: one reference-counted pointer, so that the clone axum makes for
/// every extractor and middleware of every request is one atomic increment (field by field it was
/// a dozen, 6 % of a flash sale's server CPU with their drops).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
#[derive(Clone)]
pub struct Shared {
    pub store: Store,
    pub blobs: Arc<dyn Blobs>,
    pub config: Arc<WebConfig>,
    /// Verified against when an email has no account, so sign-in timing does not tell.
    dummy_hash: Arc<str>,
    /// Moves on with every write; drops every cached answer (see [`cache`]).
    pub generation: Generation,
    /// Serialised answers of hot public and catalogue reads.
    pub(crate) answers: Arc<Cache<String, Bytes>>,
    /// Shows by slug, for the hot paths that only need to know which show (add to cart).
    shows: Arc<Cache<String, Arc<vetrina_domain::show::Show>>>,
    /// Who a session cookie or API token (by hash) belongs to.
    callers: Arc<Cache<String, auth::Caller>>,
    /// Members' roles.
    roles: Arc<Cache<(OrgId, UserId), Option<Role>>>,
    /// The media plane, when live video is enabled.
    pub media: Option<vetrina_media::Media>,
    /// The live rooms of this node's shows.
    pub(crate) rooms: live::Rooms,
    /// Holds stock for carts.
    pub ledger: shop::Ledger,
    /// Order confirmations by email (off without SMTP settings).
    pub mailer: mail::Mailer,
    /// Password hashing is memory-hungry (Argon2id, ~19 MiB each): at most this many at once, so
    /// a flood of sign-ins cannot exhaust the server.
    pub(crate) password_slots: Arc<tokio::sync::Semaphore>,
    /// Sign-ins per remote address: password guessing is slow work (Argon2id) and a risk.
    pub(crate) sign_ins: Arc<budget::PerAddress>,
    /// Guest names picked per remote address: each is a row, and cheap to ask for.
    pub(crate) guests: Arc<budget::PerAddress>,
}

impl AppState {
    pub fn new(store: Store, blobs: Arc<dyn Blobs>, config: WebConfig, media: Option<vetrina_media::Media>) -> AppState {
        let dummy_hash = auth::dummy_hash(config.password_cost).into();
        let answer_cache = config.answer_cache;
        let generation = Generation::default();
        let ledger = shop::Ledger::start(store.clone(), config.hold_minutes * 60_000, config.ledger_batch);
        AppState(Arc::new(Shared {
            store,
            blobs,
            config: Arc::new(config),
            dummy_hash,
            answers: Arc::new(Cache::new(generation.clone(), answer_cache, 10_000)),
            shows: Arc::new(Cache::new(generation.clone(), answer_cache, 10_000)),
            callers: Arc::new(Cache::new(generation.clone(), Duration::from_secs(5), 100_000)),
            roles: Arc::new(Cache::new(generation.clone(), Duration::from_secs(5), 100_000)),
            generation,
            media,
            rooms: live::Rooms::default(),
            ledger,
            mailer: mail::Mailer::off(),
            password_slots: Arc::new(tokio::sync::Semaphore::new(4)),
            // Bursts for a household or an office behind one address; then one every few seconds.
            sign_ins: Arc::new(budget::PerAddress::new(0.2, 30.0)),
            guests: Arc::new(budget::PerAddress::new(0.5, 60.0)),
        }))
    }
}

impl AppState {
    /// Order confirmations go out through `mailer`.
    pub fn with_mailer(mut self, mailer: mail::Mailer) -> AppState {
        Arc::make_mut(&mut self.0).mailer = mailer;
        self
    }

    /// Closes this node's live rooms, each saving its state first (the node stops).
    pub async fn close_rooms(&self) {
        self.rooms.close_all().await;
    }

    /// Live rooms that share their shows with other nodes' rooms through `bus`.
    pub fn with_bus(mut self, bus: bus::Bus) -> AppState {
        Arc::make_mut(&mut self.0).rooms = live::Rooms::new(bus);
        self
    }

    /// A show that viewers may see (not a draft), by slug; from memory for `answer_cache_ms`.
    pub(crate) async fn show_by_slug(&self, slug: &str) -> error::ApiResult<Arc<vetrina_domain::show::Show>> {
        let show = self
            .shows
            .get_or_load(slug.to_string(), async { self.store.show_by_slug(slug).await.ok().map(Arc::new) })
            .await
            .ok_or_else(|| error::ApiError::not_found("show"))?;
        if show.status == vetrina_domain::show::ShowStatus::Draft {
            return Err(error::ApiError::not_found("show"));
        }
        Ok(show)
    }

    /// The cached JSON answer for `key`, or the one `make` computes (then cached).
    pub(crate) async fn cached_json<T, F>(&self, key: String, make: F) -> error::ApiResult<Response>
    where
        T: serde::Serialize,
        F: std::future::Future<Output = error::ApiResult<T>>,
    {
        let body = match self.answers.get(&key) {
            Some(body) => body,
            None => {
                let generation = self.generation.current();
                let value = make.await?;
                let body = Bytes::from(serde_json::to_vec(&value).map_err(error::ApiError::internal)?);
                self.answers.put(key, body.clone(), generation);
                body
            }
        };
        Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response())
    }
}

/// Writes that change nothing another request reads from a cache: signing in makes a new
/// session, a guest is a new name, media sessions live in the media plane, carts are the buyer's
/// own (live stock reaches pages through the room, not cached reads). Letting them advance the
/// generation would let a crowd of arriving viewers, or a flash sale, empty every cache many
/// times a second.
fn leaves_caches_alone(method: &Method, path: &str) -> bool {
    (*method == Method::POST
        && (path == "/api/v1/session" || path == "/api/v1/guests" || path.ends_with("/whip") || path.ends_with("/whep")))
        || (*method == Method::DELETE && path.starts_with("/api/v1/media/sessions/"))
        || (path.starts_with("/api/v1/shows/") && (path.ends_with("/cart/lines") || path.contains("/cart/lines/")))
}

/// The router answers a known address asked with the wrong method with an empty 405; say what
/// is wrong in a problem document, keeping the `Allow` header.
async fn explain_method_not_allowed(response: Response) -> Response {
    use axum::http::{StatusCode, header};
    if response.status() != StatusCode::METHOD_NOT_ALLOWED || response.headers().contains_key(header::CONTENT_TYPE) {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    // The router may add `Allow` after this runs: then the header, not the text, names them.
    let allowed = allow.as_ref().and_then(|a| a.to_str().ok()).map_or("the methods in the Allow header".to_string(), str::to_string);
    let mut problem =
        error::ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("this address does not take that method; it takes {allowed}"))
            .into_response();
    if let Some(allow) = allow {
        problem.headers_mut().insert(header::ALLOW, allow);
    }
    problem
}

/// What any site may read with `fetch` (the embedded player on a merchant's site): the public
/// show, its chapters, timeline, media state and recording, clips, and the page assets. Never a
/// cart, an order or the room: those go with the buyer's cookie, on our own pages only.
fn public_read(method: &Method, path: &str) -> bool {
    if !matches!(*method, Method::GET | Method::HEAD) {
        return false;
    }
    if path == "/embed.js" || path.starts_with("/assets/") || path.starts_with("/media/") || path.starts_with("/api/v1/clips/") {
        return true;
    }
    let Some(rest) = path.strip_prefix("/api/v1/shows/") else { return false };
    match rest.split_once('/') {
        None => !rest.is_empty(),
        Some((_, tail)) => matches!(tail, "chapters" | "timeline" | "media" | "recording" | "calendar.ics"),
    }
}

/// Media URLs answer other origins (the embedded player, browser tools), errors included: the
/// stream key or the session URL is the credential, never a cookie. So do public reads.
/// Every other API answer is someone's own (an order export, a cart, a session) and is not to be
/// kept by any cache (RFC 9111 section 5.2.2.5) unless its handler said otherwise.
async fn media_cors(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let public = public_read(request.method(), path);
    let private = path.starts_with("/api/") && !public;
    let media = path.ends_with("/whip") || path.ends_with("/whep") || path.starts_with("/api/v1/media/sessions/") || public;
    let mut response = next.run(request).await;
    if private && !response.headers().contains_key(axum::http::header::CACHE_CONTROL) {
        response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    }
    if media {
        let headers = response.headers_mut();
        headers.insert(axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, axum::http::HeaderValue::from_static("*"));
        headers.insert(axum::http::header::ACCESS_CONTROL_EXPOSE_HEADERS, axum::http::HeaderValue::from_static("Location, Link, ETag"));
    }
    response
}

/// After a successful write, moves the generation on so no cached answer predates it.
async fn advance_on_write(State(generation): State<Generation>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let writes = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) && !leaves_caches_alone(&method, request.uri().path());
    let response = next.run(request).await;
    if writes && (response.status().is_success() || response.status().is_redirection()) {
        generation.advance();
    }
    response
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    let (api, openapi) = api::router().split_for_parts();
    let openapi = Arc::new(openapi);
    Router::new()
        .merge(api)
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let doc = openapi.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .merge(pages::router())
        .fallback(pages::not_found)
        .layer(middleware::map_response(explain_method_not_allowed))
        .layer(middleware::from_fn(media_cors))
        .layer(middleware::from_fn_with_state(state.generation.clone(), advance_on_write))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// Serves `app` on a listener that is already bound (tests bind port 0) until `shutdown` fires,
/// then lets requests in flight finish.
pub async fn serve(listener: TcpListener, state: AppState, shutdown: CancellationToken) -> std::io::Result<()> {
    let listener = net::Listener::new(listener, state.config.header_timeout, state.config.idle_timeout);
    let app = app(state).into_make_service_with_connect_info::<net::PeerAddr>();
    axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await }).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn turn_rest_credentials() {
        let server = super::IceServer {
            urls: vec!["turn:turn.example.com:443?transport=tcp".into()],
            username: None,
            credential: None,
            secret: Some("north".into()),
            ttl_seconds: Some(3600),
        };
        let issued = server.issued(1_700_000_000);
        assert_eq!(issued.username.as_deref(), Some("1700003600:vetrina"));
        // python3 -c "import hmac,hashlib,base64;print(base64.b64encode(hmac.new(b'north',b'1700003600:vetrina',hashlib.sha1).digest()))"
        assert_eq!(issued.credential.as_deref(), Some("kTzH0VqmOVgGqueJ8QsM5vyLAUY="));
        assert!(issued.secret.is_none());
        assert!(!serde_json::to_string(&server).unwrap().contains("north"), "the secret is never sent");
    }
}
