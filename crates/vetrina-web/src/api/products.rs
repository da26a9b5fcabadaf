//! The catalogue: products with variants and images; import from Shopify; export to CSV.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vetrina_domain::account::Action;
use vetrina_domain::catalogue::{Image, Product, ProductInput, ProductStatus};
use vetrina_domain::ids::{ImageId, OrgId, ProductId};
use vetrina_domain::import;
use vetrina_domain::text;
use vetrina_store::catalogue::ProductQuery;
use vetrina_store::random_token;

use super::Page;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Body, Created, Json, Path, Query, created};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, update_product, delete_product))
        .routes(routes!(import_products))
        .routes(routes!(export_products))
        .routes(routes!(upload_image))
        .routes(routes!(delete_image))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Matches title, handle, vendor or SKU.
    pub q: Option<String>,
    pub status: Option<ProductStatus>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A page of the catalogue, by title.
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/products", tag = "catalogue",
    params(("org_id" = String, Path), ListQuery), responses((status = 200, body = Page<Product>)))]
async fn list_products(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<OrgId>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    caller.require(&state, &org_id, Action::Read).await?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(vetrina_domain::Invalid::new("limit", "between 1 and 200").into());
    }
    let offset = q.offset.unwrap_or(0).max(0);
    let query = ProductQuery { search: q.q, status: q.status, limit, offset };
    let key = format!("products:{org_id}:{:?}:{:?}:{limit}:{offset}", query.search, query.status);
    let store = state.store.clone();
    state
        .cached_json(key, async move {
            let (items, total) = store.products(&org_id, &query).await?;
            Ok(Page { items, total, limit, offset })
        })
        .await
}

/// Creates a product with its variants.
#[utoipa::path(post, path = "/api/v1/orgs/{org_id}/products", tag = "catalogue", request_body = ProductInput,
    params(("org_id" = String, Path)),
    responses((status = 201, body = Product), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_product(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<OrgId>,
    Json(body): Json<ProductInput>,
) -> ApiResult<Created<Product>> {
    caller.require(&state, &org_id, Action::EditCatalogue).await?;
    let org = state.store.org(&org_id).await?;
    let valid = body.validate(&org.currency)?;
    let product = state.store.create_product(&org_id, valid).await?;
    Ok(created(format!("/api/v1/orgs/{org_id}/products/{}", product.id), product))
}

/// One product.
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/products/{product_id}", tag = "catalogue",
    params(("org_id" = String, Path), ("product_id" = String, Path)), responses((status = 200, body = Product), (status = 404, body = crate::error::Problem)))]
async fn get_product(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, id)): Path<(OrgId, ProductId)>,
) -> ApiResult<Json<Product>> {
    caller.require(&state, &org_id, Action::Read).await?;
    Ok(Json(state.store.product(&org_id, &id).await.map_err(|_| ApiError::not_found("product"))?))
}

/// Replaces a product. Variants sent with their `id` keep it; variants left out are removed.
#[utoipa::path(put, path = "/api/v1/orgs/{org_id}/products/{product_id}", tag = "catalogue", request_body = ProductInput,
    params(("org_id" = String, Path), ("product_id" = String, Path)),
    responses((status = 200, body = Product), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn update_product(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, id)): Path<(OrgId, ProductId)>,
    Json(body): Json<ProductInput>,
) -> ApiResult<Json<Product>> {
    caller.require(&state, &org_id, Action::EditCatalogue).await?;
    let org = state.store.org(&org_id).await?;
    let valid = body.validate(&org.currency)?;
    let product = state.store.update_product(&org_id, &id, valid).await?;
    state.ledger.restocked(&org_id);
    Ok(Json(product))
}

/// Deletes a product that no show uses.
#[utoipa::path(delete, path = "/api/v1/orgs/{org_id}/products/{product_id}", tag = "catalogue",
    params(("org_id" = String, Path), ("product_id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
async fn delete_product(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, id)): Path<(OrgId, ProductId)>,
) -> ApiResult<StatusCode> {
    caller.require(&state, &org_id, Action::EditCatalogue).await?;
    let product = state.store.product(&org_id, &id).await.map_err(|_| ApiError::not_found("product"))?;
    state.store.delete_product(&org_id, &id).await?;
    state.ledger.restocked(&org_id);
    for image in product.images {
        if let Some(key) = image.src.strip_prefix("/media/") {
            let blobs = state.blobs.clone();
            let key = key.to_string();
            // Best effort: an orphaned file wastes space but breaks nothing.
            let _ = tokio::task::spawn_blocking(move || blobs.delete(&key)).await;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// `shopify-csv`, `woocommerce-csv` or `shopify-json`; by default taken from the
    /// Content-Type (`text/csv`: the layout is read from the header row; `application/json`).
    pub format: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    pub product_ids: Vec<ProductId>,
    /// What did not stop the import but deserves a look (stock that was not in the file).
    pub warnings: Vec<String>,
}

/// Imports a Shopify or WooCommerce product CSV export or a Shopify `products.json` document, all or nothing:
/// products with a known handle are updated, others created. On any bad row nothing changes and
/// the answer lists every problem with its line.
#[utoipa::path(post, path = "/api/v1/orgs/{org_id}/products/import", tag = "catalogue",
    params(("org_id" = String, Path), ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "Shopify product CSV (or application/json: products.json)"),
    responses((status = 200, body = ImportReport), (status = 422, body = crate::error::Problem)))]
async fn import_products(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<OrgId>,
    Query(q): Query<ImportQuery>,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Json<ImportReport>> {
    caller.require(&state, &org_id, Action::EditCatalogue).await?;
    let org = state.store.org(&org_id).await?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    // Media types are case-insensitive (RFC 9110 section 8.3.1); Windows browsers send a .csv
    // file as Excel's type.
    let (media_type, params) = content_type.split_once(';').unwrap_or((content_type, ""));
    let media_type = media_type.trim().to_ascii_lowercase();
    let charset = params
        .split(';')
        .filter_map(|p| p.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, value)| value.trim().trim_matches('"').to_ascii_lowercase());
    let body = match import::to_utf8(&body, charset.as_deref()) {
        Some(text) => text,
        None => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("charset {} is not one this import reads: send UTF-8 (or ISO-8859-1, Windows-1252)", charset.unwrap_or_default()),
            ));
        }
    };
    let format = match q.format.as_deref() {
        Some(f) => f.to_string(),
        None if media_type == "application/json" => "shopify-json".into(),
        None if matches!(media_type.as_str(), "text/csv" | "text/plain" | "application/csv" | "application/vnd.ms-excel") => "csv".into(),
        None => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send a Shopify CSV as text/csv or a products.json document as application/json",
            ));
        }
    };
    let parsed = match format.as_str() {
        "csv" => import::product_csv(&body, &org.currency),
        "shopify-csv" => import::shopify_csv(&body, &org.currency),
        "woocommerce-csv" => import::woocommerce_csv(&body, &org.currency),
        "shopify-json" => import::shopify_json(&body, &org.currency),
        other => {
            return Err(ApiError::bad_request(format!("unknown format {other:?}: use shopify-csv, woocommerce-csv or shopify-json")));
        }
    }
    .map_err(ApiError::import)?;
    let mut valid = Vec::with_capacity(parsed.products.len());
    for p in parsed.products {
        valid.push(p.validate(&org.currency)?);
    }
    let outcome = state.store.import_products(&org_id, valid).await?;
    state.ledger.restocked(&org_id);
    tracing::info!(org_id = %org_id, created = outcome.created.len(), updated = outcome.updated.len(), "imported products");
    Ok(Json(ImportReport {
        created: outcome.created.len(),
        updated: outcome.updated.len(),
        product_ids: outcome.created.into_iter().chain(outcome.updated).collect(),
        warnings: parsed.warnings,
    }))
}

/// The whole catalogue as a Shopify-layout product CSV (imports back here or into Shopify).
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/products/export.csv", tag = "catalogue",
    params(("org_id" = String, Path)), responses((status = 200, content_type = "text/csv", body = String)))]
async fn export_products(State(state): State<AppState>, caller: Caller, Path(org_id): Path<OrgId>) -> ApiResult<Response> {
    caller.require(&state, &org_id, Action::Read).await?;
    let products = state.store.all_products(&org_id).await?;
    let csv = import::export_csv(&products);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"products_export.csv\"".to_string()),
        ],
        csv,
    )
        .into_response())
}

/// The image type of `bytes`, by their first bytes (never by what the client claims).
pub(crate) fn sniff_image(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Some(("jpg", "image/jpeg")),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some(("png", "image/png")),
        [b'G', b'I', b'F', b'8', ..] => Some(("gif", "image/gif")),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some(("webp", "image/webp")),
        [_, _, _, _, b'f', b't', b'y', b'p', b'a', b'v', b'i', b'f', ..] => Some(("avif", "image/avif")),
        _ => None,
    }
}

/// Stores uploaded image bytes and returns the `/media/...` address they are served at.
pub(crate) async fn store_image(state: &AppState, org_id: &OrgId, bytes: axum::body::Bytes) -> ApiResult<(String, String)> {
    let (ext, _) = sniff_image(&bytes)
        .ok_or_else(|| ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "the body is not a JPEG, PNG, GIF, WebP or AVIF image"))?;
    let key = format!("images/{org_id}/{}.{ext}", random_token(12));
    let blobs = state.blobs.clone();
    let put_key = key.clone();
    tokio::task::spawn_blocking(move || blobs.put(&put_key, &bytes)).await.map_err(ApiError::internal)?.map_err(ApiError::internal)?;
    Ok((format!("/media/{key}"), key))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImageQuery {
    /// Text for people who cannot see the image.
    pub alt: Option<String>,
}

/// Uploads an image (the raw bytes as the body) and adds it to the product.
#[utoipa::path(post, path = "/api/v1/orgs/{org_id}/products/{product_id}/images", tag = "catalogue",
    params(("org_id" = String, Path), ("product_id" = String, Path), ImageQuery),
    request_body(content = Vec<u8>, content_type = "image/jpeg"),
    responses((status = 201, body = Image), (status = 415, body = crate::error::Problem)))]
async fn upload_image(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, id)): Path<(OrgId, ProductId)>,
    Query(q): Query<ImageQuery>,
    Body(body): Body,
) -> ApiResult<Created<Image>> {
    caller.require(&state, &org_id, Action::EditCatalogue).await?;
    let alt = text::limit("alt", q.alt.as_deref().unwrap_or(""), 512)?;
    state.store.product(&org_id, &id).await.map_err(|_| ApiError::not_found("product"))?;
    let (src, key) = store_image(&state, &org_id, body).await?;
    let image = state.store.add_image(&org_id, &id, &src, &key, &alt).await?;
    // The image itself is where it can be read.
    Ok(created(image.src.clone(), image))
}

/// Removes an image from a product.
#[utoipa::path(delete, path = "/api/v1/orgs/{org_id}/products/{product_id}/images/{image_id}", tag = "catalogue",
    params(("org_id" = String, Path), ("product_id" = String, Path), ("image_id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn delete_image(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, product_id, image_id)): Path<(OrgId, ProductId, ImageId)>,
) -> ApiResult<StatusCode> {
    caller.require(&state, &org_id, Action::EditCatalogue).await?;
    if let Some(key) = state.store.delete_image(&org_id, &product_id, &image_id).await? {
        let blobs = state.blobs.clone();
        let _ = tokio::task::spawn_blocking(move || blobs.delete(&key)).await;
    }
    Ok(StatusCode::NO_CONTENT)
}
