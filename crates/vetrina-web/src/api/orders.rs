//! The merchant's orders in the console: list and search, mark paid, fulfil, cancel (the units go
//! back on sale), a refund note, and a CSV export.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vetrina_domain::account::Action;
use vetrina_domain::ids::OrgId;
use vetrina_domain::money::Currency;
use vetrina_domain::shop::OrderStatus;
use vetrina_domain::show::rfc3339;
use vetrina_store::now_ms;
use vetrina_store::orders::Order;

use crate::AppState;
use crate::api::Page;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Json, Path, Query};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orders))
        .routes(routes!(export_orders))
        .routes(routes!(get_order, update_order))
        .routes(routes!(show_commissions))
        .routes(routes!(set_commission_rate))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OrderQuery {
    /// An order number, or part of the buyer's email or name.
    #[serde(default)]
    pub q: String,
    pub status: Option<OrderStatus>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// The shop's orders, newest first.
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/orders", tag = "orders",
    params(("org_id" = String, Path), OrderQuery), responses((status = 200, body = Page<Order>)))]
async fn list_orders(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<OrgId>,
    Query(q): Query<OrderQuery>,
) -> ApiResult<Json<Page<Order>>> {
    caller.require(&state, &org_id, Action::ManageOrders).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let offset = q.offset.unwrap_or(0).max(0);
    let (items, total) = state.store.orders(&org_id, &q.q, q.status, limit, offset).await?;
    Ok(Json(Page { items, total, limit, offset }))
}

/// One order.
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/orders/{order_id}", tag = "orders",
    params(("org_id" = String, Path), ("order_id" = String, Path)), responses((status = 200, body = Order), (status = 404, body = crate::error::Problem)))]
async fn get_order(State(state): State<AppState>, caller: Caller, Path((org_id, id)): Path<(OrgId, String)>) -> ApiResult<Json<Order>> {
    caller.require(&state, &org_id, Action::ManageOrders).await?;
    Ok(Json(state.store.order(&org_id, &id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderPatch {
    /// `paid`, `fulfilled` or `cancelled` (its units go back on sale).
    pub status: Option<OrderStatus>,
    /// A note on a refund (what was refunded, how).
    pub refund_note: Option<String>,
}

/// Marks an order paid or fulfilled, cancels it, or notes a refund.
#[utoipa::path(patch, path = "/api/v1/orgs/{org_id}/orders/{order_id}", tag = "orders", request_body = OrderPatch,
    params(("org_id" = String, Path), ("order_id" = String, Path)),
    responses((status = 200, body = Order), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
async fn update_order(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, id)): Path<(OrgId, String)>,
    Json(body): Json<OrderPatch>,
) -> ApiResult<Json<Order>> {
    caller.require(&state, &org_id, Action::ManageOrders).await?;
    let note = match body.refund_note {
        Some(n) if n.chars().count() > 2_000 => return Err(ApiError::unprocessable("refund_note is at most 2000 characters")),
        other => other,
    };
    let order = state.store.order(&org_id, &id).await?;
    match body.status {
        Some(next) if next != order.status => {
            let (order, levels) = state.store.set_order_status(&org_id, &id, next, note.as_deref(), now_ms()).await?;
            state.ledger.changed(levels);
            Ok(Json(order))
        }
        _ => match note {
            Some(note) => Ok(Json(state.store.set_refund_note(&org_id, &id, &note, now_ms()).await?)),
            None => Ok(Json(order)),
        },
    }
}

/// Every order as CSV, a row per line (the order's fields repeated), for the merchant's books.
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/orders.csv", tag = "orders",
    params(("org_id" = String, Path)), responses((status = 200, content_type = "text/csv", body = String)))]
async fn export_orders(State(state): State<AppState>, caller: Caller, Path(org_id): Path<OrgId>) -> ApiResult<Response> {
    caller.require(&state, &org_id, Action::ManageOrders).await?;
    // RFC 4180: records end with CRLF.
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let head = [
        "Number",
        "Created at",
        "Status",
        "Payment",
        "Email",
        "Name",
        "Phone",
        "Address",
        "Address 2",
        "City",
        "Postal code",
        "Region",
        "Country",
        "Currency",
        "Subtotal",
        "Discount",
        "Discount code",
        "Shipping",
        "Tax",
        "Total",
        "Show",
        "Source",
        "Media ms",
        "SKU",
        "Item",
        "Options",
        "Quantity",
        "Unit price",
        "Deal",
        "Refund note",
    ];
    out.write_record(head).map_err(ApiError::internal)?;
    let mut offset = 0;
    loop {
        let (orders, total) = state.store.orders(&org_id, "", None, 500, offset).await?;
        for o in &orders {
            let money = |minor: i64| Currency::parse(&o.currency).map(|c| c.format_amount(minor)).unwrap_or_else(|_| minor.to_string());
            for l in &o.lines {
                let a = &o.address;
                let row = [
                    o.number.to_string(),
                    rfc3339(o.created_at),
                    o.status.as_str().to_string(),
                    o.payment.as_str().to_string(),
                    o.email.clone(),
                    o.name.clone(),
                    o.phone.clone(),
                    a.line1.clone(),
                    a.line2.clone(),
                    a.city.clone(),
                    a.postal_code.clone(),
                    a.region.clone(),
                    a.country.clone(),
                    o.currency.clone(),
                    money(o.totals.subtotal_minor),
                    money(o.totals.discount_minor),
                    o.discount_code.clone().unwrap_or_default(),
                    money(o.totals.shipping_minor),
                    money(o.totals.tax_minor),
                    money(o.totals.total_minor),
                    o.show_id.as_ref().map(|s| s.0.clone()).unwrap_or_default(),
                    l.source.clone(),
                    l.media_ms.map(|m| m.to_string()).unwrap_or_default(),
                    l.sku.clone(),
                    l.title.clone(),
                    l.options.join(" / "),
                    l.quantity.to_string(),
                    money(l.unit_price_minor),
                    l.deal_id.as_ref().map(|d| d.0.clone()).unwrap_or_default(),
                    o.refund_note.clone(),
                ];
                out.write_record(row.iter().map(|c| vetrina_domain::text::spreadsheet_cell(c).into_owned())).map_err(ApiError::internal)?;
            }
        }
        offset += orders.len() as i64;
        if orders.is_empty() || offset >= total {
            break;
        }
    }
    let body = out.into_inner().map_err(ApiError::internal)?;
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8"), (header::CONTENT_DISPOSITION, "attachment; filename=\"orders_export.csv\"")],
        body,
    )
        .into_response())
}

/// A show's sales and what its hosts and creators earn on them (each at their own rate, on the
/// goods before shipping and taxes, cancelled orders left out).
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/shows/{show_id}/commissions", tag = "orders",
    params(("org_id" = String, Path), ("show_id" = String, Path)),
    responses((status = 200, body = vetrina_store::orders::ShowCommissions), (status = 404, body = crate::error::Problem)))]
async fn show_commissions(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, show_id)): Path<(OrgId, vetrina_domain::ids::ShowId)>,
) -> ApiResult<Json<vetrina_store::orders::ShowCommissions>> {
    caller.require(&state, &org_id, Action::ManageOrders).await?;
    let show = state.store.show(&org_id, &show_id).await.map_err(|_| ApiError::not_found("show"))?;
    Ok(Json(state.store.show_commissions(&org_id, &show).await?))
}

#[derive(Deserialize, serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommissionRate {
    /// Basis points of the goods sold in their shows (1000 = 10%).
    pub rate_bp: i64,
}

/// Sets what a host or creator earns on the sales of the shows they present.
#[utoipa::path(put, path = "/api/v1/orgs/{org_id}/commission-rates/{user_id}", tag = "orders", request_body = CommissionRate,
    params(("org_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 200, body = CommissionRate), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn set_commission_rate(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, user_id)): Path<(OrgId, vetrina_domain::ids::UserId)>,
    Json(body): Json<CommissionRate>,
) -> ApiResult<Json<CommissionRate>> {
    caller.require(&state, &org_id, Action::ManageOrders).await?;
    if !(0..=10_000).contains(&body.rate_bp) {
        return Err(ApiError::unprocessable("rate_bp is between 0 and 10000 (100%)").with_field("rate_bp"));
    }
    if !state.store.presents_for(&org_id, &user_id).await? {
        return Err(ApiError::not_found("presenter"));
    }
    state.store.set_commission_rate(&org_id, &user_id, body.rate_bp).await?;
    Ok(Json(body))
}
