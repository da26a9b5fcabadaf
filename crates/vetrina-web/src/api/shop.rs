//! The buyer's cart at a show: add from the pinned card or the shelf, change, remove. Adding
//! holds the units (docs/shop.md); prices and totals are the server's, never the client's.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vetrina_domain::ids::{CartId, DealId, OrgId, ProductId, VariantId};
use vetrina_domain::shop::{Contact, MAX_QUANTITY, Outcome, Payment};
use vetrina_domain::show::{Show, ShowStatus};
use vetrina_store::now_ms;
use vetrina_store::orders::{Checkout, CheckoutRequest, Order};
use vetrina_store::shop::{CartLine, NewHold};

use crate::AppState;
use crate::auth::{self, Caller, hash_secret, new_secret, set_cookie};
use crate::error::{ApiError, ApiResult, Json, Path, Query};
use crate::shop::LedgerError;

/// The cookie that keeps a buyer's carts across reloads (and live and replay).
pub const BUYER_COOKIE: &str = "vetrina_buyer";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_cart))
        .routes(routes!(add_line))
        .routes(routes!(change_line, remove_line))
        .routes(routes!(checkout))
        .routes(routes!(my_order))
}

#[derive(Serialize, ToSchema)]
pub struct Cart {
    #[schema(value_type = Option<String>)]
    pub id: Option<CartId>,
    #[schema(value_type = Vec<Object>)]
    pub lines: Vec<CartLine>,
    /// The sum of the lines at today's prices.
    pub subtotal_minor: i64,
    pub currency: String,
    /// How long an added item stays reserved.
    pub hold_minutes: i64,
    /// What the order would cost now: the discount (with `?discount_code=`), shipping and taxes
    /// under the shop's settings. Checkout computes them again; this is the quote shown before.
    pub totals: vetrina_domain::shop::Totals,
    /// The code the quote applies, as the shop writes it.
    pub discount_code: Option<String>,
    /// How the buyer may pay at this shop: `pay_later`, and `shopify` / `woocommerce` when the
    /// shop hands off to its own store.
    #[schema(value_type = Vec<String>)]
    pub payments: Vec<Payment>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CartQuery {
    /// A discount code to quote with: 422 when it does not apply, saying why.
    pub discount_code: Option<String>,
}

/// What adding to the cart did: the units are the buyer's until `expires_at`.
#[derive(Serialize, ToSchema)]
pub struct Added {
    #[schema(value_type = String)]
    pub cart_id: CartId,
    #[schema(value_type = String)]
    pub variant_id: VariantId,
    #[schema(value_type = String)]
    pub product_id: ProductId,
    pub title: String,
    pub options: Vec<String>,
    pub image: Option<String>,
    pub quantity_added: i64,
    /// Units of this variant in the cart now.
    pub in_cart: i64,
    /// What one unit costs (the deal's price when added under a running deal).
    pub unit_price_minor: i64,
    pub regular_price_minor: i64,
    pub currency: String,
    #[schema(value_type = Option<String>)]
    pub deal_id: Option<DealId>,
    /// When these units go back on sale unless the buyer checks out (Unix ms).
    pub expires_at: i64,
    /// Units still available to others (`null`: stock is not counted).
    pub available: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddLine {
    #[schema(value_type = String)]
    pub variant_id: VariantId,
    /// 1 to 99; 1 when absent.
    #[serde(default = "one")]
    pub quantity: i64,
    /// Take the running flash deal's price when there is one (default); `false` buys at the
    /// regular price (when the deal's units are gone).
    #[serde(default = "yes")]
    pub deal: bool,
    /// The moment of video the buyer was watching (ms of the show's media clock).
    #[serde(default)]
    pub media_ms: Option<i64>,
}

fn one() -> i64 {
    1
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeLine {
    /// The new quantity (0 removes the line).
    pub quantity: i64,
}

/// Who is buying: a signed-in person by account, anyone else by the buyer cookie (made here
/// when missing; the answer then sets it).
fn buyer(caller: &Caller, headers: &HeaderMap) -> (String, Option<String>) {
    if let Caller::Person { user, .. } = caller {
        return (user.id.0.clone(), None);
    }
    match auth::cookie(headers, BUYER_COOKIE) {
        Some(secret) if !secret.is_empty() && secret.len() <= 128 => (guest_buyer(secret), None),
        _ => {
            let secret = new_guest_secret(now_ms());
            (guest_buyer(&secret), Some(secret))
        }
    }
}

/// A new guest buyer's secret: when it was made (10 characters that sort by time), a dot, and
/// 160 random bits.
fn new_guest_secret(now: i64) -> String {
    let made = vetrina_store::new_time_id("", now);
    format!("{}.{}", made.get(..10).unwrap_or_default(), new_secret())
}

/// The buyer a guest's secret stands for, as the store keeps it: the secret's hash, after the
/// time it was made when it has one. Carts are found by buyer, so a rush of new buyers adds to the
/// end of that index instead of all over it: in a flash sale on SQLite a random key there cost
/// more than the rest of the cart's write (a fresh page of the index written per buyer). Secrets
/// from before (no dot) keep the key they had.
fn guest_buyer(secret: &str) -> String {
    match secret.split_once('.') {
        Some((made, _)) if made.len() == 10 && made.bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7')) => {
            format!("buyer:{made}.{}", hash_secret(secret))
        }
        _ => format!("buyer:{}", hash_secret(secret)),
    }
}

/// Where a buyer is when they buy: during the show, from its replay, or before it.
fn source_of(show: &Show) -> &'static str {
    match show.status {
        ShowStatus::Live => "live",
        ShowStatus::Ended => "replay",
        _ => "shelf",
    }
}

async fn show_for_sale(state: &AppState, slug: &str) -> ApiResult<std::sync::Arc<Show>> {
    state.show_by_slug(slug).await
}

async fn cart_answer(state: &AppState, org: &OrgId, cart: Option<CartId>, discount_code: Option<&str>) -> ApiResult<Cart> {
    let now = now_ms();
    let lines = match &cart {
        Some(id) => state.store.cart_lines(id, now).await?,
        None => Vec::new(),
    };
    let shop = state.store.org(org).await?;
    let currency = match lines.first() {
        Some(l) => l.currency.clone(),
        None => shop.currency.code().to_string(),
    };
    let priced: Vec<vetrina_domain::shop::PricedLine> =
        lines.iter().map(|l| vetrina_domain::shop::PricedLine { quantity: l.quantity, unit_price_minor: l.unit_price_minor }).collect();
    let subtotal_minor = priced.iter().map(|l| l.unit_price_minor * l.quantity).sum();
    let (discount_code, off) = match discount_code.map(vetrina_domain::shop::normal_code).filter(|c| !c.is_empty()) {
        None => (None, 0),
        Some(code) => {
            let invalid = |reason: String| ApiError::from(vetrina_domain::Invalid::new("discount_code", reason));
            let found = state.store.discount_code(org, &code).await.map_err(|_| invalid(format!("{code} is not a code of this shop")))?;
            (Some(found.code.clone()), found.discount(subtotal_minor, now).map_err(invalid)?)
        }
    };
    let totals = vetrina_domain::shop::totals_with(&priced, &shop.shop, off);
    let mut payments = vec![Payment::PayLater];
    if shop.shop.shopify_domain.is_some() {
        payments.push(Payment::Shopify);
    }
    if shop.shop.woocommerce_domain.is_some() {
        payments.push(Payment::Woocommerce);
    }
    Ok(Cart { id: cart, lines, subtotal_minor, currency, hold_minutes: state.ledger.hold_ms / 60_000, totals, discount_code, payments })
}

fn with_cookie(state: &AppState, headers: &HeaderMap, mut response: Response, secret: Option<String>) -> Response {
    if let Some(secret) = secret {
        let cookie = set_cookie(BUYER_COOKIE, &secret, 365 * 86_400, auth::secure_request(headers, state.config.secure_cookies()));
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The buyer's cart at the show's shop, with today's prices and what is still available.
#[utoipa::path(get, path = "/api/v1/shows/{slug}/cart", tag = "shop",
    params(("slug" = String, Path), CartQuery),
    responses((status = 200, body = Cart), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn get_cart(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(slug): Path<String>,
    Query(q): Query<CartQuery>,
) -> ApiResult<Json<Cart>> {
    let show = show_for_sale(&state, &slug).await?;
    let has_buyer = matches!(caller, Caller::Person { .. }) || auth::cookie(&headers, BUYER_COOKIE).is_some();
    let cart = if has_buyer { state.store.cart_of(&show.org_id, &buyer(&caller, &headers).0).await? } else { None };
    Ok(Json(cart_answer(&state, &show.org_id, cart, q.discount_code.as_deref()).await?))
}

/// Adds units of a variant to the buyer's cart, holding them: 201 with what was added, or 409
/// when they are gone (`sold_out` with what is left, `deal_sold_out`, `buyer_limit`).
#[utoipa::path(post, path = "/api/v1/shows/{slug}/cart/lines", tag = "shop", request_body = AddLine,
    params(("slug" = String, Path)),
    responses((status = 201, body = Added), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem), (status = 503, body = crate::error::Problem)))]
async fn add_line(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(slug): Path<String>,
    Json(body): Json<AddLine>,
) -> ApiResult<Response> {
    if !(1..=MAX_QUANTITY).contains(&body.quantity) {
        return Err(ApiError::unprocessable(format!("quantity must be between 1 and {MAX_QUANTITY}")));
    }
    let show = state.show_by_slug(&slug).await?;
    let (buyer, new_cookie) = buyer(&caller, &headers);
    let added = hold(&state, &show, &buyer, &body.variant_id, body.quantity, body.deal, body.media_ms).await?;
    Ok(with_cookie(&state, &headers, (StatusCode::CREATED, Json(added)).into_response(), new_cookie))
}

/// Nothing left of the variant: 409 `sold_out`.
fn sold_out() -> ApiError {
    ApiError::conflict("sold out").with_code("sold_out").with_available(0)
}

async fn hold(
    state: &AppState,
    show: &Show,
    buyer: &str,
    variant: &VariantId,
    quantity: i64,
    deal: bool,
    media_ms: Option<i64>,
) -> ApiResult<Added> {
    let source = source_of(show);
    let request = NewHold {
        buyer: buyer.to_string(),
        quantity,
        use_deal: deal,
        show: Some(show.id.clone()),
        source,
        media_ms: media_ms.map(|m| m.max(0)),
    };
    let (held, item, level) = state.ledger.hold(show.org_id.clone(), variant.clone(), request).await.map_err(|e| match e {
        LedgerError::Busy => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the shop is very busy right now: try again in a moment"),
        LedgerError::NotFound => ApiError::not_found("variant"),
        LedgerError::Failed => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the cart could not be updated: try again"),
        LedgerError::SoldOut => sold_out(),
    })?;
    match held.outcome {
        Outcome::Held => Ok(Added {
            cart_id: held.cart,
            variant_id: variant.clone(),
            product_id: item.product.clone(),
            title: item.title.clone(),
            options: item.options.clone(),
            image: item.image.clone(),
            quantity_added: quantity,
            in_cart: held.in_cart,
            unit_price_minor: held.unit_price_minor,
            regular_price_minor: item.regular_price_minor,
            currency: item.currency.clone(),
            deal_id: held.deal,
            expires_at: held.expires_at,
            available: level.available,
        }),
        Outcome::SoldOut { available: 0 } => Err(sold_out()),
        Outcome::SoldOut { available } => {
            Err(ApiError::conflict(format!("only {available} left")).with_code("sold_out").with_available(available))
        }
        Outcome::DealSoldOut { available } => Err(ApiError::conflict(format!(
            "the deal's units are gone ({available} left at the deal price): add it at the regular price with \"deal\": false"
        ))
        .with_code("deal_sold_out")
        .with_available(available)),
        Outcome::BuyerLimit { limit, already } => {
            Err(ApiError::conflict(format!("at most {limit} per person at the deal price; you have {already}")).with_code("buyer_limit"))
        }
        Outcome::BadQuantity => Err(ApiError::unprocessable(format!("quantity must be between 1 and {MAX_QUANTITY}"))),
    }
}

/// Changes how many units of a variant the cart holds (0 removes it; more holds the difference).
#[utoipa::path(patch, path = "/api/v1/shows/{slug}/cart/lines/{variant_id}", tag = "shop", request_body = ChangeLine,
    params(("slug" = String, Path), ("variant_id" = String, Path)),
    responses((status = 200, body = Cart), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
async fn change_line(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((slug, variant)): Path<(String, VariantId)>,
    Json(body): Json<ChangeLine>,
) -> ApiResult<Json<Cart>> {
    if !(0..=MAX_QUANTITY).contains(&body.quantity) {
        return Err(ApiError::unprocessable(format!("quantity must be between 0 and {MAX_QUANTITY}")));
    }
    let show = show_for_sale(&state, &slug).await?;
    let (buyer, _) = buyer(&caller, &headers);
    let cart = state.store.cart_for(&show.org_id, &buyer, now_ms()).await?;
    let lines = state.store.cart_lines(&cart, now_ms()).await?;
    let current: i64 = lines.iter().filter(|l| l.variant_id == variant).map(|l| l.quantity).sum();
    if current == 0 {
        return Err(ApiError::not_found("cart line"));
    }
    if body.quantity < current {
        let levels = state.store.reduce_line(&cart, &variant, body.quantity).await?;
        state.ledger.changed(levels);
    } else if body.quantity > current {
        let deal = lines.iter().any(|l| l.variant_id == variant && l.deal_id.is_some());
        hold(&state, &show, &buyer, &variant, body.quantity - current, deal, None).await?;
    }
    Ok(Json(cart_answer(&state, &show.org_id, Some(cart), None).await?))
}

/// Takes a variant out of the cart; its units go back on sale at once.
#[utoipa::path(delete, path = "/api/v1/shows/{slug}/cart/lines/{variant_id}", tag = "shop",
    params(("slug" = String, Path), ("variant_id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn remove_line(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((slug, variant)): Path<(String, VariantId)>,
) -> ApiResult<StatusCode> {
    let show = show_for_sale(&state, &slug).await?;
    let (buyer, _) = buyer(&caller, &headers);
    let cart = state.store.cart_for(&show.org_id, &buyer, now_ms()).await?;
    let levels = state.store.reduce_line(&cart, &variant, 0).await?;
    state.ledger.changed(levels);
    Ok(StatusCode::NO_CONTENT)
}

/// What checkout takes: who buys, where it goes, how they pay.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    #[serde(flatten)]
    pub contact: Contact,
    #[serde(default)]
    pub payment: Payment,
    /// The moment of video the buyer was watching when they checked out.
    #[serde(default)]
    pub media_ms: Option<i64>,
    /// A discount code (any case): 422 when it does not apply, saying why.
    #[serde(default)]
    pub discount_code: Option<String>,
}

/// Places an order from the buyer's cart: prices, shipping and taxes are computed here; the
/// held units become sold. Send an `Idempotency-Key` header: the same key again answers the same
/// order (`Idempotent-Replayed: true`) instead of placing another; with another body, 422.
#[utoipa::path(post, path = "/api/v1/shows/{slug}/checkout", tag = "shop", request_body = CheckoutBody,
    params(("slug" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = Order), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn checkout(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(slug): Path<String>,
    Json(body): Json<CheckoutBody>,
) -> ApiResult<Response> {
    let show = show_for_sale(&state, &slug).await?;
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => match v.to_str().map(str::trim) {
            Ok(k) if !k.is_empty() && k.len() <= 255 => Some(k.to_string()),
            _ => return Err(ApiError::bad_request("Idempotency-Key must be 1 to 255 visible characters")),
        },
    };
    let digest = {
        use sha2::Digest;
        let canonical = serde_json::to_vec(&body).map_err(ApiError::internal)?;
        let hash = sha2::Sha256::new().chain_update(slug.as_bytes()).chain_update([0]).chain_update(&canonical).finalize();
        vetrina_domain::text::hex(&hash)
    };
    let replayed = |order: Order| {
        let mut r = placed(order);
        r.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
        r
    };
    let (buyer, _) = buyer(&caller, &headers);
    if let Some(key) = &key
        && let Some((order, hash)) = state.store.order_by_idempotency_key(&show.org_id, &buyer, key).await?
    {
        if hash != digest {
            return Err(ApiError::unprocessable("this Idempotency-Key was used for another checkout: use a new key for a new order"));
        }
        return Ok(replayed(order));
    }
    let contact = body.contact.validate()?;
    let Some(cart) = state.store.cart_of(&show.org_id, &buyer).await? else {
        return Err(ApiError::conflict("the cart is empty"));
    };
    let org = state.store.org(&show.org_id).await?;
    let source = source_of(&show);
    let request = CheckoutRequest {
        buyer,
        cart,
        contact,
        payment: body.payment,
        idempotency: key.map(|k| (k, digest)),
        show: Some(show.id.clone()),
        source,
        media_ms: body.media_ms.map(|m| m.max(0)),
        discount_code: body.discount_code.clone().filter(|c| !c.trim().is_empty()),
    };
    match state.store.checkout(&org, &request, now_ms()).await? {
        Checkout::Placed(order, levels) => {
            state.ledger.changed(levels);
            let italian = headers
                .get(axum::http::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|l| l.trim_start().to_ascii_lowercase().starts_with("it"));
            state.mailer.order_confirmation(&order, &org.name, italian);
            Ok(placed(order))
        }
        Checkout::Again(order) => Ok(replayed(order)),
    }
}

/// A placed order's `201`, naming where its buyer reads it.
fn placed(order: Order) -> Response {
    crate::error::created(format!("/api/v1/orders/{}", order.id), order).into_response()
}

/// The buyer's own order (the confirmation page).
#[utoipa::path(get, path = "/api/v1/orders/{order_id}", tag = "shop",
    params(("order_id" = String, Path)), responses((status = 200, body = Order), (status = 404, body = crate::error::Problem)))]
async fn my_order(State(state): State<AppState>, caller: Caller, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<Order>> {
    let has_buyer = matches!(caller, Caller::Person { .. }) || auth::cookie(&headers, BUYER_COOKIE).is_some();
    if !has_buyer {
        return Err(ApiError::not_found("order"));
    }
    let (buyer, _) = buyer(&caller, &headers);
    Ok(Json(state.store.buyers_order(&buyer, &id).await.map_err(|_| ApiError::not_found("order"))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_buyers_sort_by_when_their_secret_was_made() {
        let (early, late) = (new_guest_secret(1_700_000_000_000), new_guest_secret(1_700_000_000_001));
        assert_ne!(early, late);
        assert!(guest_buyer(&early) < guest_buyer(&late), "{early} {late}");
        assert_eq!(guest_buyer(&early), guest_buyer(&early));
        // The key is the secret's hash after its time: another secret of the same millisecond is
        // another buyer, and the time alone finds nobody.
        let (made, _) = early.split_once('.').unwrap();
        assert_eq!(guest_buyer(&early), format!("buyer:{made}.{}", hash_secret(&early)));
        assert_ne!(guest_buyer(&early), guest_buyer(&new_guest_secret(1_700_000_000_000)));
        // Secrets from before keep their key; anything else with a dot is only hashed.
        assert_eq!(guest_buyer("abc234"), format!("buyer:{}", hash_secret("abc234")));
        for odd in ["ABCDEFGHIJ.x", "abc.def", "abcdefghi1.x", ".x"] {
            assert_eq!(guest_buyer(odd), format!("buyer:{}", hash_secret(odd)), "{odd}");
        }
    }
}
