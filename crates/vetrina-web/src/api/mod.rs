//! The JSON API under `/api/v1`, one module per area; each exports a `router()`.

pub mod discounts;
pub mod media;
pub mod orders;
pub mod orgs;
pub mod products;
pub mod public;
pub mod replays;
pub mod session;
pub mod shop;
pub mod shows;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Vetrina API", description = "Live video shopping: organisations, catalogue, shows. Errors are RFC 9457 problem documents."),
    components(schemas(crate::error::Problem)),
    modifiers(&Security),
    tags(
        (name = "session", description = "Sign in, sign out, guests, invitations"),
        (name = "orgs", description = "Organisations, members, invitations, API tokens"),
        (name = "catalogue", description = "Products, variants, images, import and export"),
        (name = "shows", description = "Shows, line-up, run of show"),
        (name = "public", description = "What viewers see, without signing in"),
        (name = "media", description = "Live video: WHIP to publish, WHEP to watch"),
        (name = "live", description = "The live room over WebSocket: chat, likes, pins, viewers"),
        (name = "shop", description = "Carts holding stock for buyers, checkout"),
        (name = "orders", description = "The shop's orders in the console"),
        (name = "replays", description = "Chapters, clips and their public pages"),
    )
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("token", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        components.add_security_scheme("session", SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::auth::SESSION_COOKIE))));
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(session::router())
        .merge(orgs::router())
        .merge(products::router())
        .merge(shows::router())
        .merge(public::router())
        .merge(media::router())
        .merge(shop::router())
        .merge(orders::router())
        .merge(replays::router())
        .merge(discounts::router())
}

/// Answer of list endpoints that page.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}
