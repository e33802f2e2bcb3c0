//! The web UI: one page of plain HTML, CSS and JavaScript, embedded in the binary (nothing is
//! fetched from elsewhere, so it works air-gapped), that calls the control API with the
//! signed-in user's session.
//!
//! No framework and no build step: the whole UI is three files served as they are in the
//! repository, which keeps it small (tens of kilobytes) and fast to first render. Every path
//! under `/ui/` answers the same page; the page routes itself from the URL.

pub mod password;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::state::AppState;

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// Only the UI's own files may load or be called; no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn asset(content_type: &'static str, body: &'static str, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX, "no-store")
}

// Assets change with the binary; a short cache keeps an upgraded server's UI fresh.
async fn app_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        APP_JS,
        "private, max-age=300",
    )
}

async fn app_css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS, "private, max-age=300")
}

/// The UI's routes: `/` and `/ui` lead to `/ui/`; every page under `/ui/` is the app.
pub fn pages() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(index))
        .route("/ui/assets/app.js", get(app_js))
        .route("/ui/assets/app.css", get(app_css))
        .route("/ui/{*page}", get(index))
}

/// Bytes of the UI's assets (what a first visit downloads).
pub fn asset_bytes() -> usize {
    INDEX.len() + APP_JS.len() + APP_CSS.len()
}

/// The user [`ensure_first_admin`] creates.
pub const FIRST_ADMIN: &str = "admin";

/// When there are no web-UI users yet, creates [`FIRST_ADMIN`] (role `admin`) with a random
/// password and returns it; otherwise returns `None`. What `airlock standalone` does so that
/// its UI opens at once.
pub async fn ensure_first_admin(
    db: &airlock_store::Db,
) -> Result<Option<String>, crate::error::ApiError> {
    if airlock_store::ui::count_users(db).await? > 0 {
        return Ok(None);
    }
    let password: String = crate::auth::session::new_secret()
        .chars()
        .take(20)
        .collect();
    let hash = password::hash(password.clone()).await?;
    airlock_store::ui::put_user(
        db,
        FIRST_ADMIN,
        airlock_protocol::state::UiRole::Admin,
        Some(&hash),
        airlock_store::now(),
    )
    .await?;
    Ok(Some(password))
}
