//! A shop's discount codes in the console (owners and admins). Buyers type them at checkout;
//! the cart quotes with one (`GET .../cart?discount_code=`), docs/shop.md.

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vetrina_domain::account::Action;
use vetrina_domain::ids::OrgId;
use vetrina_domain::shop::{DiscountCode, DiscountInput, normal_code};
use vetrina_store::now_ms;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Json, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_codes, create_code)).routes(routes!(get_code, update_code, delete_code))
}

/// The shop's discount codes, with how often each was used.
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/discount-codes", tag = "orders",
    params(("org_id" = String, Path)), responses((status = 200, body = Vec<DiscountCode>)))]
async fn list_codes(State(state): State<AppState>, caller: Caller, Path(org_id): Path<OrgId>) -> ApiResult<Json<Vec<DiscountCode>>> {
    caller.require(&state, &org_id, Action::ManageOrders).await?;
    Ok(Json(state.store.discount_codes(&org_id).await?))
}

/// Adds a code: percent or amount off the goods, an optional minimum, a use limit, an expiry.
#[utoipa::path(post, path = "/api/v1/orgs/{org_id}/discount-codes", tag = "orders", request_body = DiscountInput,
    params(("org_id" = String, Path)),
    responses((status = 201, body = DiscountCode), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_code(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<OrgId>,
    Json(input): Json<DiscountInput>,
) -> ApiResult<crate::error::Created<DiscountCode>> {
    caller.require(&state, &org_id, Action::ManageOrders).await?;
    let code = input.validate()?;
    let code = state.store.create_discount_code(&org_id, &code, now_ms()).await?;
    Ok(crate::error::created(format!("/api/v1/orgs/{org_id}/discount-codes/{}", code.code), code))
}

/// A code the store does not know, said as such.
fn no_such_code(e: vetrina_store::StoreError) -> ApiError {
    match e {
        vetrina_store::StoreError::NotFound => ApiError::not_found("discount code"),
        e => e.into(),
    }
}

/// One code, with how often it was used.
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/discount-codes/{code}", tag = "orders",
    params(("org_id" = String, Path), ("code" = String, Path)),
    responses((status = 200, body = DiscountCode), (status = 404, body = crate::error::Problem)))]
async fn get_code(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, code)): Path<(OrgId, String)>,
) -> ApiResult<Json<DiscountCode>> {
    caller.require(&state, &org_id, Action::ManageOrders).await?;
    Ok(Json(state.store.discount_code(&org_id, &normal_code(&code)).await.map_err(no_such_code)?))
}

/// Changes a code's terms (switch it off with `"active": false`); its uses so far stay.
#[utoipa::path(put, path = "/api/v1/orgs/{org_id}/discount-codes/{code}", tag = "orders", request_body = DiscountInput,
    params(("org_id" = String, Path), ("code" = String, Path)),
    responses((status = 200, body = DiscountCode), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn update_code(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, code)): Path<(OrgId, String)>,
    Json(input): Json<DiscountInput>,
) -> ApiResult<Json<DiscountCode>> {
    caller.require(&state, &org_id, Action::ManageOrders).await?;
    let terms = input.validate()?;
    if terms.code != normal_code(&code) {
        return Err(vetrina_domain::Invalid::new(
            "code",
            format!("the body's code {} is not the address's {}", terms.code, normal_code(&code)),
        )
        .into());
    }
    Ok(Json(state.store.update_discount_code(&org_id, &terms).await.map_err(no_such_code)?))
}

/// Deletes a code (orders that used it keep it).
#[utoipa::path(delete, path = "/api/v1/orgs/{org_id}/discount-codes/{code}", tag = "orders",
    params(("org_id" = String, Path), ("code" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn delete_code(State(state): State<AppState>, caller: Caller, Path((org_id, code)): Path<(OrgId, String)>) -> ApiResult<StatusCode> {
    caller.require(&state, &org_id, Action::ManageOrders).await?;
    state.store.delete_discount_code(&org_id, &normal_code(&code)).await.map_err(|_| ApiError::not_found("discount code"))?;
    Ok(StatusCode::NO_CONTENT)
}
