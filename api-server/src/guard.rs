//! Last lines of defence around the handlers: a body whose declared length is over the limit is
//! refused before it is read, and a handler that panics still gets a JSON 500 (and the panic is
//! logged with its location). Neither replaces validating input where it enters.

use std::any::Any;
use std::sync::Once;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Response, header};
use axum::middleware::Next;
use axum::response::IntoResponse;

use crate::error::ApiError;
use crate::extract::BodyLimit;

/// Answers 413 at once when `Content-Length` exceeds the body limit, instead of reading (or
/// waiting for) a body that would be refused anyway.
pub async fn refuse_declared_oversize(req: Request, next: Next) -> axum::response::Response {
    let limit = req
        .extensions()
        .get::<BodyLimit>()
        .map_or(usize::MAX, |l| l.0);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        let mut resp = ApiError::PayloadTooLarge(limit).into_response();
        // The unread body must not be taken for the next request.
        resp.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
        return resp;
    }
    next.run(req).await
}

/// The answer to a request whose handler panicked.
/// The panic itself was logged by [`log_panics`]; the client learns only that it happened.
pub fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response<Body> {
    ApiError::Internal("the request failed unexpectedly; the server logged where".into())
        .into_response()
}

/// Logs every panic through tracing with where it happened (the default hook prints to stderr
/// only, without the request context a log reader needs). Installed once per process.
pub fn log_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_default();
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(%location, %message, "panic");
            previous(info);
        }));
    });
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tower::ServiceExt;
    use tower_http::catch_panic::CatchPanicLayer;

    async fn boom() -> &'static str {
        panic!("boom")
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_a_json_500() {
        super::log_panics();
        let app = Router::new()
            .route("/boom", get(boom))
            .layer(CatchPanicLayer::custom(super::panic_response));
        let resp = app
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let body = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["detail"]["reason"], "internal_error");
    }
}
