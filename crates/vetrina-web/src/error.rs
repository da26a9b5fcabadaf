//! Errors as RFC 9457 problem details (`application/problem+json`).
//!
//! Every failure a client can cause is a 4xx whose `detail` says what is wrong; anything else is a
//! 500 whose cause is logged and never sent.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use vetrina_domain::Invalid;
use vetrina_domain::import::ImportProblem;
use vetrina_store::StoreError;

/// A problem document. `type` stays `about:blank`: the status and title say the kind.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// For invalid input: where the problem is (`variants/0/price_minor`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For imports: every problem found, each with its line or path.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ImportProblem>,
    /// A machine-readable reason where clients act on it (`sold_out`, `deal_sold_out`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// For `sold_out`: the units that could still be added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<i64>,
}

/// An error a handler returns.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
    field: Option<String>,
    errors: Vec<ImportProblem>,
    code: Option<&'static str>,
    available: Option<i64>,
    /// Seconds to wait before trying again (`Retry-After`).
    retry_after: Option<u32>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError { status, detail: detail.into(), field: None, errors: Vec::new(), code: None, available: None, retry_after: None }
    }

    pub fn unprocessable(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    /// Adds a machine-readable reason.
    pub fn with_code(mut self, code: &'static str) -> ApiError {
        self.code = Some(code);
        self
    }

    /// Names the field that is wrong.
    pub fn with_field(mut self, field: &str) -> ApiError {
        self.field = Some(field.to_string());
        self
    }

    /// Adds how many units could still be had.
    pub fn with_available(mut self, available: i64) -> ApiError {
        self.available = Some(available);
        self
    }

    /// With a `Retry-After` of `seconds` (a 503 that will pass, a 429).
    pub fn with_retry_after(mut self, seconds: u32) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    /// 429 Too Many Requests, with how many seconds to wait.
    pub fn too_many(detail: impl Into<String>, retry_after: u32) -> ApiError {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, detail).with_retry_after(retry_after)
    }

    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "sign in first, or send an API token as \"Authorization: Bearer ...\"")
    }

    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, detail)
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, detail)
    }

    pub fn import(problems: Vec<ImportProblem>) -> ApiError {
        let n = problems.len();
        let first = problems.first().map(|p| match (p.line, &p.path) {
            (Some(line), _) => format!("line {line}: {}", p.reason),
            (None, Some(path)) => format!("{path}: {}", p.reason),
            (None, None) => p.reason.clone(),
        });
        // Problems are collected up to a cap: past it, there may be more.
        let at_least = if n >= vetrina_domain::import::MAX_PROBLEMS { "at least " } else { "" };
        let detail = format!(
            "nothing was imported: {at_least}{n} problem{} found; the first is {}",
            if n == 1 { "" } else { "s" },
            first.unwrap_or_default()
        );
        ApiError { errors: problems, ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, detail) }
    }

    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "an internal error happened; it was logged")
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> ApiError {
        ApiError { field: Some(e.field.clone()), ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()) }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::new(StatusCode::NOT_FOUND, "not found"),
            StoreError::Conflict(message) => ApiError::conflict(message),
            StoreError::Invalid(invalid) => invalid.into(),
            e => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // RFC 9457 section 4.2.1: the status's phrase, as RFC 9110 names it now.
        let title = match self.status {
            StatusCode::PAYLOAD_TOO_LARGE => "Content Too Large",
            StatusCode::UNPROCESSABLE_ENTITY => "Unprocessable Content",
            status => status.canonical_reason().unwrap_or("Error"),
        };
        let problem = Problem {
            type_: "about:blank",
            title,
            status: self.status.as_u16(),
            detail: self.detail,
            field: self.field,
            errors: self.errors,
            code: self.code,
            available: self.available,
        };
        let mut response = (self.status, axum::Json(problem)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        // A 401 names how to authenticate (RFC 9110 section 15.5.2): an API token as a Bearer
        // token (RFC 6750); pages sign in with a cookie. Handlers may set a narrower challenge.
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"vetrina\""));
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

fn from_bytes_rejection(r: &BytesRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "the request body is larger than this server accepts");
    }
    ApiError::new(r.status(), format!("the request body could not be read: {}", r.body_text()))
}

/// `axum::Json` whose rejections are problem documents that say what is wrong.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the body as JSON with \"Content-Type: application/json\""))
            }
            Err(JsonRejection::JsonSyntaxError(e)) => {
                Err(ApiError::bad_request(format!("the body is not valid JSON: {}", source_text(&e))))
            }
            Err(JsonRejection::JsonDataError(e)) => {
                Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("the JSON does not fit: {}", source_text(&e))))
            }
            Err(JsonRejection::BytesRejection(e)) => Err(from_bytes_rejection(&e)),
            Err(e) => Err(ApiError::new(e.status(), e.body_text())),
        }
    }
}

fn source_text(e: &dyn std::error::Error) -> String {
    let mut inner: &dyn std::error::Error = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A `201 Created` with the new resource's address in `Location` (RFC 9110 section 15.3.2).
pub type Created<T> = (StatusCode, [(header::HeaderName, String); 1], Json<T>);

pub fn created<T>(location: String, body: T) -> Created<T> {
    (StatusCode::CREATED, [(header::LOCATION, location)], Json(body))
}

/// The raw body, with a problem document when it is too large.
pub struct Body(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        axum::body::Bytes::from_request(req, state).await.map(Body).map_err(|e| from_bytes_rejection(&e))
    }
}

/// `axum::extract::Path` with problem-document rejections.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e: PathRejection| ApiError::new(StatusCode::BAD_REQUEST, format!("bad path: {}", e.body_text())))
    }
}

/// `axum::extract::Query` with problem-document rejections.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e: QueryRejection| ApiError::new(StatusCode::BAD_REQUEST, format!("bad query string: {}", e.body_text())))
    }
}
