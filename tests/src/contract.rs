//! The committed OpenAPI document as a contract: every response an in-process test server
//! sends is checked against it (documented status, media type, and body schema), so a suite
//! that exercises a route also proves the document tells the truth about it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};

/// Violations seen by a [`record`]ing router.
pub type Violations = Arc<Mutex<Vec<String>>>;

/// Paths the router serves that are about the API rather than part of it.
const UNDOCUMENTED: &[&str] = &["/openapi.json", "/docs"];

/// Path parameters that may span several segments (keys may contain `/`).
const GREEDY: &[&str] = &["key", "variable_key"];

enum Seg {
    Lit(String),
    Param { greedy: bool },
}

struct Operation {
    method: String,
    template: String,
    segments: Vec<Seg>,
    responses: Value,
}

/// The committed document, parsed into operations and compiled schemas.
pub struct Contract {
    components: Value,
    operations: Vec<Operation>,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

/// The document committed at `openapi/execution-api.json`.
pub fn contract() -> &'static Contract {
    static DOC: OnceLock<Contract> = OnceLock::new();
    DOC.get_or_init(|| {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/execution-api.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        Contract::new(serde_json::from_str(&text).expect("the committed document is JSON"))
    })
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// Whether `path` fits `template` (a greedy parameter takes one or more segments).
fn fits(template: &[Seg], path: &[&str]) -> bool {
    match template.split_first() {
        None => path.is_empty(),
        Some((Seg::Lit(l), rest)) => path.first() == Some(&l.as_str()) && fits(rest, &path[1..]),
        Some((Seg::Param { greedy: false }, rest)) => !path.is_empty() && fits(rest, &path[1..]),
        Some((Seg::Param { greedy: true }, rest)) => {
            (1..=path.len()).any(|n| fits(rest, &path[n..]))
        }
    }
}

impl Contract {
    fn new(doc: Value) -> Self {
        let mut operations = Vec::new();
        for (template, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let segments = segments(template)
                    .map(
                        |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                            Some(name) => Seg::Param {
                                greedy: GREEDY.contains(&name),
                            },
                            None => Seg::Lit(s.to_owned()),
                        },
                    )
                    .collect();
                operations.push(Operation {
                    method: method.clone(),
                    template: template.clone(),
                    segments,
                    responses: op["responses"].clone(),
                });
            }
        }
        Self {
            components: doc["components"].clone(),
            operations,
            validators: Mutex::new(HashMap::new()),
        }
    }

    /// The operation a request is for: the fitting template with the most literal segments.
    fn operation(&self, method: &str, path: &str) -> Option<&Operation> {
        let parts: Vec<&str> = segments(path).collect();
        self.operations
            .iter()
            .filter(|o| o.method.eq_ignore_ascii_case(method) && fits(&o.segments, &parts))
            .max_by_key(|o| {
                o.segments
                    .iter()
                    .filter(|s| matches!(s, Seg::Lit(_)))
                    .count()
            })
    }

    fn validator(&self, key: String, schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
        let mut cache = self.validators.lock().map_err(|e| e.to_string())?;
        if let Some(v) = cache.get(&key) {
            return Ok(v.clone());
        }
        // `#/components/...` references resolve against this root.
        let root = json!({ "components": self.components, "allOf": [schema] });
        let v = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .map_err(|e| format!("{key}: the document's schema does not compile: {e}"))?;
        let v = Arc::new(v);
        cache.insert(key, v.clone());
        Ok(v)
    }

    /// Checks one response of `method path` (relative to `/execution`) against the document.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(), String> {
        if UNDOCUMENTED.contains(&path) {
            return Ok(());
        }
        let Some(op) = self.operation(method, path) else {
            // The router's JSON 404/405 for paths and methods it does not serve.
            return match status {
                404 | 405 => Ok(()),
                _ => Err(format!(
                    "{method} {path}: no such operation in the document"
                )),
            };
        };
        let here = format!("{method} {} → {status}", op.template);
        let Some(resp) = op.responses.get(status.to_string()) else {
            return Err(format!("{here}: status not documented"));
        };
        let Some(content) = resp.get("content").and_then(Value::as_object) else {
            return if body.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{here}: documented without a body, but sent {} bytes",
                    body.len()
                ))
            };
        };
        if method.eq_ignore_ascii_case("head") {
            return Ok(());
        }
        let media = content_type
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        let Some(schema) = content.get(media).map(|c| &c["schema"]) else {
            return Err(format!(
                "{here}: sent {media:?}, documented {:?}",
                content.keys().collect::<Vec<_>>()
            ));
        };
        if media != "application/json" {
            return Ok(());
        }
        let instance: Value = serde_json::from_slice(body)
            .map_err(|e| format!("{here}: the body is not JSON: {e}"))?;
        let validator = self.validator(format!("{here} {media}"), schema)?;
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{here}: body {instance} does not match: {}",
                errors.join("; ")
            ))
        }
    }
}

async fn check_response(State(seen): State<Violations>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    let (parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            if let Ok(mut v) = seen.lock() {
                v.push(format!(
                    "{method} {path}: cannot read the response body: {e}"
                ));
            }
            return Response::from_parts(parts, Body::empty());
        }
    };
    if let Some(rel) = path.strip_prefix("/execution") {
        let content_type = parts
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        if let Err(e) = contract().check(&method, rel, parts.status.as_u16(), content_type, &bytes)
            && let Ok(mut v) = seen.lock()
        {
            v.push(e);
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// `router`, with every response it sends checked against the document; what does not match
/// is added to `seen`.
pub fn record(router: Router, seen: Violations) -> Router {
    router.layer(axum::middleware::from_fn_with_state(seen, check_response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_keys_take_the_rest_of_the_path_but_literals_win() {
        let c = contract();
        let op = |m, p| c.operation(m, p).map(|o| o.template.clone());
        assert_eq!(
            op("get", "/xcoms/d/r/t/a/b/slice").as_deref(),
            Some("/xcoms/{dag_id}/{run_id}/{task_id}/{key}/slice")
        );
        assert_eq!(
            op("get", "/xcoms/d/r/t/a/b").as_deref(),
            Some("/xcoms/{dag_id}/{run_id}/{task_id}/{key}")
        );
        assert_eq!(
            op("get", "/task-instances/count").as_deref(),
            Some("/task-instances/count")
        );
        assert!(op("get", "/nothing/here").is_none());
    }

    #[test]
    fn a_body_that_breaks_its_schema_is_a_violation() {
        let c = contract();
        assert!(
            c.check(
                "get",
                "/health",
                200,
                Some("application/json"),
                br#"{"status":"healthy"}"#
            )
            .is_ok()
        );
        let bad = c.check(
            "get",
            "/dag-runs/count",
            200,
            Some("application/json"),
            br#""many""#,
        );
        assert!(bad.is_err(), "{bad:?}");
        let undocumented = c.check("get", "/health", 418, None, b"");
        assert!(undocumented.is_err());
    }
}
