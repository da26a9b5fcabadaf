//! What viewers see without signing in: a show's public page data and its calendar event.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vetrina_domain::calendar;
use vetrina_domain::catalogue::{Product, ProductStatus, html_to_text};
use vetrina_domain::show::{Show, ShowStatus, local_time, rfc3339};
use vetrina_store::now_ms;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(public_show)).routes(routes!(show_calendar))
}

#[derive(Serialize, ToSchema)]
pub struct PublicShow {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub status: ShowStatus,
    /// RFC 3339, UTC.
    pub starts_at: Option<String>,
    /// The same moment in the show's time zone, with its offset.
    pub starts_at_local: Option<String>,
    pub time_zone: String,
    pub cover_src: Option<String>,
    pub merchant: String,
    pub hosts: Vec<String>,
    pub lineup: Vec<PublicProduct>,
    /// The `.ics` event to add the show to a calendar.
    pub calendar_url: String,
    pub page_url: String,
}

#[derive(Serialize, ToSchema)]
pub struct PublicProduct {
    pub id: String,
    pub handle: String,
    pub title: String,
    /// Plain text: descriptions are never sent as HTML to viewers.
    pub description: String,
    pub vendor: String,
    pub currency: String,
    pub price_from_minor: i64,
    pub compare_at_minor: Option<i64>,
    pub images: Vec<PublicImage>,
    pub options: Vec<String>,
    pub variants: Vec<PublicVariant>,
    pub sold_out: bool,
}

#[derive(Serialize, ToSchema)]
pub struct PublicImage {
    pub src: String,
    pub alt: String,
}

#[derive(Serialize, ToSchema)]
pub struct PublicVariant {
    pub id: String,
    pub title: String,
    pub option_values: Vec<String>,
    pub price_minor: i64,
    pub compare_at_minor: Option<i64>,
    /// Units buyers may still add (on hand, less what carts hold) when stock is tracked; absent
    /// when the variant never sells out. Live changes come over the room (`stock` in frames).
    pub stock: Option<i64>,
    pub available: bool,
    pub sku: String,
    /// The variant in the merchant's Shopify or WooCommerce shop (imported), so a site's own cart
    /// can take over from the embedded player.
    pub shopify_variant_id: Option<String>,
    pub woocommerce_id: Option<String>,
}

fn public_product(p: Product) -> PublicProduct {
    let compare_at_minor = p.variants.iter().filter_map(|v| v.compare_at_minor).max();
    let price_from_minor = p.price_from_minor();
    let variants: Vec<PublicVariant> = p
        .variants
        .into_iter()
        .map(|v| PublicVariant {
            // What buyers may still add: on hand, less what carts hold.
            available: !v.track_stock || v.stock - v.held > 0,
            stock: v.track_stock.then_some((v.stock - v.held).max(0)),
            id: v.id.0,
            title: v.title,
            option_values: v.option_values,
            price_minor: v.price_minor,
            compare_at_minor: v.compare_at_minor,
            sku: v.sku,
            shopify_variant_id: v.shopify_variant_id,
            woocommerce_id: v.woocommerce_id,
        })
        .collect();
    PublicProduct {
        sold_out: !variants.iter().any(|v| v.available),
        id: p.id.0,
        handle: p.handle,
        title: p.title,
        description: html_to_text(&p.description_html),
        vendor: p.vendor,
        currency: p.currency.code().to_string(),
        price_from_minor,
        compare_at_minor,
        images: p.images.into_iter().map(|i| PublicImage { src: i.src, alt: i.alt }).collect(),
        options: p.options,
        variants,
    }
}

/// A show viewers may see: not a draft.
async fn visible_show(state: &AppState, slug: &str) -> ApiResult<Show> {
    match state.store.show_by_slug(slug).await {
        Ok(show) if show.status != ShowStatus::Draft => Ok(show),
        _ => Err(ApiError::not_found("show")),
    }
}

fn base_url(state: &AppState) -> &str {
    state.config.public_url.trim_end_matches('/')
}

/// The public page's data: time, line-up with live prices and stock, merchant.
#[utoipa::path(get, path = "/api/v1/shows/{slug}", tag = "public",
    params(("slug" = String, Path)), responses((status = 200, body = PublicShow), (status = 404, body = crate::error::Problem)))]
async fn public_show(State(state): State<AppState>, Path(slug): Path<String>) -> ApiResult<Response> {
    state.cached_json(format!("show:{slug}"), make_public_show(&state, &slug)).await
}

pub(crate) async fn make_public_show(state: &AppState, slug: &str) -> ApiResult<PublicShow> {
    let show = visible_show(state, slug).await?;
    let org = state.store.org(&show.org_id).await?;
    let products = state.store.products_by_ids(&show.org_id, &show.lineup).await?;
    let members = state.store.members(&show.org_id).await?;
    let mut hosts = Vec::new();
    for id in &show.host_ids {
        if let Some(m) = members.iter().find(|m| &m.user.id == id) {
            hosts.push(m.user.name.clone());
        }
    }
    let base = base_url(state);
    Ok(PublicShow {
        calendar_url: format!("{base}/api/v1/shows/{}/calendar.ics", show.slug),
        page_url: format!("{base}/shows/{}", show.slug),
        starts_at: show.starts_at.map(rfc3339),
        starts_at_local: show.starts_at.map(|t| local_time(t, &show.time_zone)),
        slug: show.slug,
        title: show.title,
        description: show.description,
        status: show.status,
        time_zone: show.time_zone,
        cover_src: show.cover_src,
        merchant: org.name,
        hosts,
        lineup: products.into_iter().filter(|p| p.status == ProductStatus::Active).map(public_product).collect(),
    })
}

/// "Add to calendar": the show as an iCalendar event.
#[utoipa::path(get, path = "/api/v1/shows/{slug}/calendar.ics", tag = "public",
    params(("slug" = String, Path)),
    responses((status = 200, content_type = "text/calendar", body = String), (status = 404, body = crate::error::Problem)))]
async fn show_calendar(State(state): State<AppState>, Path(slug): Path<String>) -> ApiResult<Response> {
    let show = visible_show(&state, &slug).await?;
    let url = format!("{}/shows/{}", base_url(&state), show.slug);
    let ics = calendar::show_ics(&show, &url, now_ms()).ok_or_else(|| ApiError::not_found("start time of the show"))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}.ics\"", show.slug)),
        ],
        ics,
    )
        .into_response())
}
