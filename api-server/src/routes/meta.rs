//! The API about the API: its OpenAPI document, a docs page, the JWKS, and JSON 404/405s.

use std::sync::OnceLock;

use airlock_protocol::api::{ErrorDetail, HTTPValidationError};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;
use utoipa::PartialSchema;
use utoipa::openapi::schema::OneOfBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, RefOr, ResponseBuilder};

use crate::state::AppState;

/// The OpenAPI document, rendered once.
pub async fn openapi_json() -> Response {
    static DOC: OnceLock<String> = OnceLock::new();
    let body = DOC.get_or_init(|| super::openapi().to_pretty_json().unwrap_or_default());
    ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response()
}

/// A browsable page of the API, rendered in the browser from `openapi.json` with no external
/// assets (so it works offline), plus a link to Redoc for a richer view when online.
pub async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}

/// Public keys that verify Airlock's tokens, for validators on other hosts (asymmetric keys
/// only; with the default HMAC secret there is nothing to publish).
pub async fn jwks(State(s): State<AppState>) -> Response {
    match s.tokens.jwks() {
        Some(set) => Json(set).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "detail": {
                "reason": "not_found",
                "message": "tokens are signed with a shared secret; there is no public key to publish"
            }})),
        )
            .into_response(),
    }
}

/// JSON 404 for unknown paths.
pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "detail": "Not Found" })),
    )
        .into_response()
}

/// JSON 405 for known paths with another method.
pub async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({ "detail": "Method Not Allowed" })),
    )
        .into_response()
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "HTTPExceptionResponse",
                ))))
                .build(),
        )
        .into()
}

/// Adds the bearer security scheme and the answers every operation can give.
pub fn add_shared_parts(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "JWTBearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    components
        .schemas
        .entry("HTTPValidationError".into())
        .or_insert_with(HTTPValidationError::schema);
    components
        .schemas
        .entry("ErrorDetail".into())
        .or_insert_with(ErrorDetail::schema);
    for item in doc.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
        ];
        for op in ops.into_iter().flatten() {
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let has_body = op.request_body.is_some();
            let r = &mut op.responses.responses;
            r.entry("400".into())
                .or_insert_with(|| error_response("Unsupported airflow-api-version header"));
            if has_body {
                r.entry("408".into()).or_insert_with(|| {
                    error_response("The body did not arrive within the body-read timeout")
                });
                r.entry("413".into())
                    .or_insert_with(|| error_response("The body is larger than the limit"));
            }
            r.entry("503".into()).or_insert_with(|| {
                error_response("The database is busy or unreachable; safe to retry")
            });
            if secured {
                r.entry("401".into())
                    .or_insert_with(|| error_response("Missing auth token"));
                r.entry("403".into()).or_insert_with(|| {
                    error_response(
                        "Invalid token (expired, bad signature, wrong audience or algorithm), a \
                         token of another scope, or a token for another task instance",
                    )
                });
            }
            // A malformed request (FastAPI's list of problems) or a well-formed one whose
            // content is refused (`{"reason", "message"}`), whatever the route declared.
            let unprocessable = ResponseBuilder::new()
                .description("Validation error, or content the server refuses")
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(
                            OneOfBuilder::new()
                                .item(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                                    "HTTPValidationError",
                                )))
                                .item(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                                    "HTTPExceptionResponse",
                                ))),
                        ))
                        .build(),
                )
                .into();
            r.insert("422".into(), unprocessable);
            r.entry("500".into())
                .or_insert_with(|| error_response("Database error"));
        }
    }
}
