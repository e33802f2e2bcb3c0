//! The middleware that validates bearer tokens once per request and renews them.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use super::{Identity, TokenAuthority, TokenError};

/// The outcome of checking a request's bearer token, left in the request's extensions.
#[derive(Debug, Clone)]
pub enum Authentication {
    /// No `Authorization: Bearer` header.
    Missing,
    /// A token that did not validate.
    Invalid(TokenError),
    /// A valid token.
    Valid(Identity),
    /// A live web-UI session (its cookie), checked by [`super::session`].
    Session(airlock_store::ui::Session),
    /// A session cookie that names no live session.
    SessionEnded,
    /// A live session on a state-changing request without its CSRF proof, or from another site.
    CrossSite(&'static str),
}

fn bearer(req: &Request) -> Option<&str> {
    let value = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Validates the bearer token (if any), records the outcome for the route's extractor, and adds
/// `Refreshed-API-Token` to the response when the execution token nears its end.
pub async fn authenticate(
    State(authority): State<Arc<TokenAuthority>>,
    mut req: Request,
    next: Next,
) -> Response {
    let auth = match bearer(&req) {
        None => Authentication::Missing,
        Some(token) => match authority.validate(token) {
            Ok(id) => Authentication::Valid(id),
            Err(e) => Authentication::Invalid(e),
        },
    };
    let identity = match &auth {
        Authentication::Valid(id) => Some(id.clone()),
        _ => None,
    };
    req.extensions_mut().insert(auth);
    let mut response = next.run(req).await;
    // `PATCH /run` may already have set a fresh token (workload → execution).
    if let Some(id) = identity
        && !response
            .headers()
            .contains_key(airlock_protocol::REFRESHED_TOKEN_HEADER)
        && let Some(token) = authority.refresh_if_due(&id)
        && let Ok(v) = HeaderValue::from_str(&token)
    {
        response
            .headers_mut()
            .insert(airlock_protocol::REFRESHED_TOKEN_HEADER, v);
    }
    response
}
