//! Web-UI sessions: the cookie, its lookup, and the rules that keep other sites out.
//!
//! A session is a random 256-bit value in an `HttpOnly`, `SameSite=Strict` cookie; the database
//! keeps only its SHA-256. A request that changes something on a session's authority must come
//! from the UI's own origin (`Sec-Fetch-Site` and `Origin`, when the browser sends them) and
//! echo the session's CSRF token in `X-CSRF-Token`, which a cross-site form cannot set. Bearer
//! tokens are not cookies, so none of this applies to them.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::Authentication;
use crate::error::ApiError;
use crate::state::AppState;
use airlock_store as store;

/// The session cookie's name.
pub const COOKIE: &str = "airlock_session";
/// The header that carries a session's CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A fresh random secret (256 bits, URL-safe base64).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a session cookie.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The session cookie's value, if the request carries one.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The `Set-Cookie` value that starts a session (`Secure` when the UI is served over HTTPS,
/// as a TLS-terminating proxy says with `X-Forwarded-Proto`).
pub fn start_cookie(token: &str, max_age_secs: i64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    ))
    .ok()
}

/// The `Set-Cookie` value that ends a session in the browser.
pub fn end_cookie() -> HeaderValue {
    HeaderValue::from_static("airlock_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Whether the request arrived over HTTPS (directly or through a proxy that says so).
pub fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// Refuses a request another site made the browser send: `Sec-Fetch-Site` other than
/// `same-origin`/`none`, or an `Origin` whose host is not the `Host` asked for.
pub fn check_same_origin(headers: &HeaderMap) -> Result<(), &'static str> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err("the request came from another site");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| url::Url::parse(o).ok())
        .and_then(|u| {
            let host = u.host_str()?.to_owned();
            Some(match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            })
        });
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
        _ => Err("the request's Origin is not this server"),
    }
}

/// Compares two secrets in time that does not depend on where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// For a request without a bearer token that carries a session cookie: looks the session up
/// and, on a state-changing method, checks that it came from the UI itself.
pub async fn authenticate_session(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let no_token = matches!(
        req.extensions().get::<Authentication>(),
        None | Some(Authentication::Missing)
    );
    let Some(token) = cookie(req.headers()).filter(|_| no_token) else {
        return next.run(req).await;
    };
    let found = match store::ui::session(&state.db, &token_hash(token), store::now()).await {
        Ok(found) => found,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let auth = match found {
        None => Authentication::SessionEnded,
        Some(session) => {
            let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
            // Exactly one token: a second header could hide a forged one behind a real one.
            let mut proofs = req.headers().get_all(CSRF_HEADER).iter();
            let proof = match (proofs.next(), proofs.next()) {
                (Some(v), None) => v.as_bytes(),
                _ => &[],
            };
            if safe {
                Authentication::Session(session)
            } else if let Err(why) = check_same_origin(req.headers()) {
                Authentication::CrossSite(why)
            } else if !same_secret(proof, session.csrf_token.as_bytes()) {
                Authentication::CrossSite("the request lacks the session's X-CSRF-Token")
            } else {
                Authentication::Session(session)
            }
        }
    };
    req.extensions_mut().insert(auth);
    next.run(req).await
}
