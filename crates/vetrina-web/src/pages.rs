//! Pages and files: the merchant console, the public show page, their assets (embedded in the
//! binary), uploaded media, and the health checks.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use vetrina_domain::show::ShowStatus;
use vetrina_domain::text;

use crate::AppState;
use crate::error::{ApiError, Path};

/// Files under `web/`, embedded at build time: (name, content type, bytes).
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.css", "text/css; charset=utf-8", include_str!("../web/app.css")),
    ("i18n.js", "text/javascript; charset=utf-8", include_str!("../web/i18n.js")),
    ("api.js", "text/javascript; charset=utf-8", include_str!("../web/api.js")),
    ("console.js", "text/javascript; charset=utf-8", include_str!("../web/console.js")),
    ("show.js", "text/javascript; charset=utf-8", include_str!("../web/show.js")),
    ("live.js", "text/javascript; charset=utf-8", include_str!("../web/live.js")),
    ("room.js", "text/javascript; charset=utf-8", include_str!("../web/room.js")),
    ("cart.js", "text/javascript; charset=utf-8", include_str!("../web/cart.js")),
    ("replay.js", "text/javascript; charset=utf-8", include_str!("../web/replay.js")),
    ("clip.js", "text/javascript; charset=utf-8", include_str!("../web/clip.js")),
];

/// The embeddable player (`<vetrina-player>`), for merchants' own sites: served at `/embed.js`.
const EMBED_JS: &str = include_str!("../web/embed.js");

const CONSOLE_HTML: &str = include_str!("../web/console.html");
const SHOW_HTML: &str = include_str!("../web/show.html");
const CLIP_HTML: &str = include_str!("../web/clip.html");

/// Pages may run only our own scripts and styles; images may come from anywhere over https
/// (imported product images live on the shop's CDN).
const CSP: &str = "default-src 'self'; img-src 'self' https: data:; media-src 'self' blob:; connect-src 'self'; \
                   object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/console", get(console))
        .route("/shows/{slug}", get(show_page))
        .route("/clips/{clip_id}", get(clip_page))
        .route("/embed.js", get(embed))
        .route("/assets/{file}", get(asset))
        .route("/media/{*key}", get(media))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
}

/// Strong validators of the files in the binary (RFC 9110 section 8.8.3), by name, made once:
/// they change only with the binary.
static ETAGS: LazyLock<HashMap<&'static str, HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|(name, _, body)| (*name, *body))
        .chain([("embed.js", EMBED_JS), ("console.html", CONSOLE_HTML), ("show.html", SHOW_HTML), ("clip.html", CLIP_HTML)])
        .filter_map(|(name, body)| {
            let tag = format!("\"{}\"", &text::hex(&Sha256::digest(body.as_bytes()))[..20]);
            Some((name, HeaderValue::from_str(&tag).ok()?))
        })
        .collect()
});

/// Whether the copy the client names in `If-None-Match` is `etag` (weak comparison, RFC 9110
/// section 13.1.2), so a `304 Not Modified` answers.
pub(crate) fn not_modified(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag.strip_prefix("W/").unwrap_or(etag))
}

/// The embedded file `name`: `304` when the client has it (with its validator and caching, no
/// representation headers: RFC 9110 section 15.4.5), else the file with `headers`.
fn embedded(request: &HeaderMap, name: &str, body: &'static str, status: StatusCode, headers: &[(HeaderName, HeaderValue)]) -> Response {
    let tag = ETAGS.get(name).filter(|_| status == StatusCode::OK);
    if let Some(tag) = tag.filter(|tag| not_modified(request, tag.to_str().unwrap_or(""))) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::ETAG, tag.clone());
        for (name, value) in headers.iter().filter(|(name, _)| *name == header::CACHE_CONTROL) {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        return response;
    }
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    for (name, value) in headers {
        h.insert(name.clone(), value.clone());
    }
    if let Some(tag) = tag {
        h.insert(header::ETAG, tag.clone());
    }
    response
}

fn page(request: &HeaderMap, name: &str, html: &'static str, status: StatusCode) -> Response {
    embedded(
        request,
        name,
        html,
        status,
        &[
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::REFERRER_POLICY, HeaderValue::from_static("same-origin")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
    )
}

async fn console(request: HeaderMap) -> Response {
    page(&request, "console.html", CONSOLE_HTML, StatusCode::OK)
}

async fn show_page(State(state): State<AppState>, Path(slug): Path<String>, request: HeaderMap) -> Response {
    let visible = state.store.show_by_slug(&slug).await.is_ok_and(|s| s.status != ShowStatus::Draft);
    page(&request, "show.html", SHOW_HTML, if visible { StatusCode::OK } else { StatusCode::NOT_FOUND })
}

async fn clip_page(State(state): State<AppState>, Path(clip_id): Path<String>, request: HeaderMap) -> Response {
    let found = state.store.clip(&clip_id).await.is_ok();
    page(&request, "clip.html", CLIP_HTML, if found { StatusCode::OK } else { StatusCode::NOT_FOUND })
}

/// Scripts and styles: checked with the server at each use (`no-cache`), sent again only when
/// they changed (`ETag`, `304`).
fn script_or_style(request: &HeaderMap, name: &str, content_type: &'static str, body: &'static str) -> Response {
    embedded(
        request,
        name,
        body,
        StatusCode::OK,
        &[
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
    )
}

async fn embed(request: HeaderMap) -> Response {
    script_or_style(&request, "embed.js", "text/javascript; charset=utf-8", EMBED_JS)
}

async fn asset(Path(file): Path<String>, request: HeaderMap) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((name, content_type, body)) => script_or_style(&request, name, content_type, body),
        None => ApiError::not_found("asset").into_response(),
    }
}

async fn media(State(state): State<AppState>, Path(key): Path<String>) -> Response {
    let blobs = state.blobs.clone();
    let lookup = key.clone();
    let found = tokio::task::spawn_blocking(move || blobs.get(&lookup)).await;
    match found {
        Ok(Ok(Some(bytes))) => {
            let content_type = crate::api::products::sniff_image(&bytes).map_or("application/octet-stream", |(_, ct)| ct);
            (
                [
                    (header::CONTENT_TYPE, content_type),
                    // Keys are random and never reused: the bytes behind one never change.
                    (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                ],
                bytes,
            )
                .into_response()
        }
        Ok(Ok(None)) | Ok(Err(_)) => ApiError::not_found("file").into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => "ready\n".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "store not reachable");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the database is not reachable").into_response()
        }
    }
}

/// Unknown addresses: a problem document for the API, a page otherwise.
pub async fn not_found(uri: Uri, request: HeaderMap) -> Response {
    // A client that does not take HTML (a script, an API client) gets a problem document too.
    let wants_html = request.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).any(|v| v.contains("text/html"));
    if uri.path().starts_with("/api/") || (!wants_html && request.contains_key(header::ACCEPT)) {
        ApiError::new(StatusCode::NOT_FOUND, format!("no API route at {}", uri.path())).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Html("<!doctype html><meta charset=utf-8><title>Not found</title><p>Not found. <a href=\"/console\">Vetrina</a>"),
        )
            .into_response()
    }
}
