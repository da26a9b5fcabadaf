//! Vetrina's web plane: the JSON API under `/api/v1`, authentication, and the pages (merchant
//! console, public show page) embedded in the binary.
//!
//! Only this crate knows HTTP. Handlers check who is calling ([`auth`]), turn input into domain
//! values (`vetrina-domain` checks the rules), call the [`Store`], and answer JSON or a problem
//! document ([`error`]). The OpenAPI document is collected from the handlers' annotations as the
//! router is built, so it cannot drift from the routes.

pub mod api;
pub mod auth;
pub mod error;
mod pages;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use vetrina_store::Store;
use vetrina_store::blobs::Blobs;

pub use auth::PasswordCost;

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
    pub password_cost: PasswordCost,
}

impl WebConfig {
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub blobs: Arc<dyn Blobs>,
    pub config: Arc<WebConfig>,
    /// Verified against when an email has no account, so sign-in timing does not tell.
    dummy_hash: Arc<str>,
}

impl AppState {
    pub fn new(store: Store, blobs: Arc<dyn Blobs>, config: WebConfig) -> AppState {
        let dummy_hash = auth::dummy_hash(config.password_cost).into();
        AppState { store, blobs, config: Arc::new(config), dummy_hash }
    }
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
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// Serves `app` on a listener that is already bound (tests bind port 0) until `shutdown` fires,
/// then lets requests in flight finish.
pub async fn serve(listener: TcpListener, state: AppState, shutdown: CancellationToken) -> std::io::Result<()> {
    axum::serve(listener, app(state)).with_graceful_shutdown(async move { shutdown.cancelled().await }).await
}
