//! OpenTelemetry traces of a try, exported over OTLP/HTTP with JSON bodies; off unless
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! A try is one trace: a root span from the supervisor's start to the try's report, and one
//! child span per API call (all attempts of it). The runner gets the root span's W3C
//! `traceparent` in `StartupDetails.ti.context_carrier`, so spans task code makes nest under
//! the try.
//!
//! Hand-written rather than the `opentelemetry` SDK: the supervisor makes a fixed handful of
//! spans per try and exports them once, at its end; the SDK, its batch processor and its
//! protobuf encoder would add more code to every try's process than the rest of the supervisor,
//! for nothing used here. Collectors accept OTLP/JSON on the same `/v1/traces` path.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use airlock_api_client::{CallObserver, CallRecord};
use serde_json::{Value, json};

/// Spans kept per try beyond the root (a long try's heartbeats stop being recorded after it).
const MAX_CALL_SPANS: usize = 2000;
/// Longest wait for the collector at the end of a try.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how traces are sent, read from the standard OpenTelemetry variables.
#[derive(Debug, Clone)]
pub struct Exporter {
    url: String,
    service: String,
    headers: Vec<(String, String)>,
}

impl Exporter {
    /// The exporter the environment asks for, or `None` (traces off). `OTEL_SDK_DISABLED=true`
    /// turns it off too.
    pub fn from_env() -> Option<Self> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return None;
        }
        let url = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| {
            var("OTEL_EXPORTER_OTLP_ENDPOINT")
                .map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
        })?;
        let headers = var("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
            .or_else(|| var("OTEL_EXPORTER_OTLP_HEADERS"))
            .map(|h| parse_headers(&h))
            .unwrap_or_default();
        Some(Self {
            url,
            service: var("OTEL_SERVICE_NAME").unwrap_or_else(|| "airlock-supervisor".into()),
            headers,
        })
    }
}

/// `k1=v1,k2=v2` (values percent-decoded, as the OpenTelemetry specification says).
fn parse_headers(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let v = percent_encoding::percent_decode_str(v.trim()).decode_utf8_lossy();
            Some((k.trim().to_owned(), v.into_owned()))
        })
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// A random non-zero id of `N` bytes, as lowercase hex.
fn random_id<const N: usize>() -> String {
    loop {
        let bytes: [u8; N] = rand::random();
        if bytes.iter().any(|b| *b != 0) {
            return bytes.iter().map(|b| format!("{b:02x}")).collect();
        }
    }
}

fn unix_nanos(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        .to_string()
}

fn attribute(key: &str, value: Value) -> Value {
    let value = match value {
        Value::String(s) => json!({ "stringValue": s }),
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::Number(n) if n.is_i64() => json!({ "intValue": n.to_string() }),
        other => json!({ "stringValue": other.to_string() }),
    };
    json!({ "key": key, "value": value })
}

/// A path with its UUID segments replaced by `{id}`: a span name of few values.
fn route_of(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if uuid::Uuid::parse_str(seg).is_ok() {
                "{id}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The trace of one try: its ids and the API calls made so far.
pub struct TryTrace {
    exporter: Exporter,
    trace_id: String,
    span_id: String,
    started: SystemTime,
    calls: Mutex<(Vec<Value>, u64)>,
}

impl TryTrace {
    /// Starts the trace of a try now.
    pub fn start(exporter: Exporter) -> Self {
        Self {
            exporter,
            trace_id: random_id::<16>(),
            span_id: random_id::<8>(),
            started: SystemTime::now(),
            calls: Mutex::new((Vec::new(), 0)),
        }
    }

    /// The W3C `traceparent` of the try's span (sampled).
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }

    /// Sends the trace: the try's span, named and described by `name` and `attributes`, with
    /// `ok` as its status, and the API calls under it. Failures are logged, never raised: a
    /// collector that is down costs a try at most [`EXPORT_TIMEOUT`].
    pub async fn export(&self, name: &str, attributes: &[(&str, Value)], ok: bool) {
        let (mut spans, dropped) = match self.calls.lock() {
            Ok(mut c) => (std::mem::take(&mut c.0), c.1),
            Err(_) => (Vec::new(), 0),
        };
        let mut attrs: Vec<Value> = attributes
            .iter()
            .map(|(k, v)| attribute(k, v.clone()))
            .collect();
        if dropped > 0 {
            attrs.push(attribute("airlock.spans_dropped", json!(dropped)));
        }
        spans.insert(
            0,
            json!({
                "traceId": self.trace_id,
                "spanId": self.span_id,
                "name": name,
                "kind": 1,
                "startTimeUnixNano": unix_nanos(self.started),
                "endTimeUnixNano": unix_nanos(SystemTime::now()),
                "attributes": attrs,
                "status": { "code": if ok { 1 } else { 2 } },
            }),
        );
        let body = json!({
            "resourceSpans": [{
                "resource": { "attributes": [
                    attribute("service.name", json!(self.exporter.service)),
                ]},
                "scopeSpans": [{
                    "scope": { "name": "airlock-supervisor", "version": env!("CARGO_PKG_VERSION") },
                    "spans": spans,
                }],
            }],
        });
        if let Err(e) = self.send(&body).await {
            tracing::warn!(url = %self.exporter.url, error = %e, "cannot export the try's trace");
        }
    }

    async fn send(&self, body: &Value) -> Result<(), String> {
        let http = airlock_process::http::client_builder_for(&self.exporter.url)
            .map_err(|e| e.to_string())?
            .timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        let mut req = http.post(&self.exporter.url).json(body);
        for (k, v) in &self.exporter.headers {
            req = req.header(k, v);
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("the collector answered {}", resp.status()));
        }
        Ok(())
    }
}

impl CallObserver for TryTrace {
    fn finished(&self, call: &CallRecord<'_>) {
        let Ok(mut calls) = self.calls.lock() else {
            return;
        };
        if calls.0.len() >= MAX_CALL_SPANS {
            calls.1 = calls.1.saturating_add(1);
            return;
        }
        let mut attrs = vec![
            attribute("http.request.method", json!(call.method)),
            attribute("url.path", json!(call.path)),
            attribute("airlock.attempts", json!(call.attempts)),
        ];
        if let Some(status) = call.status {
            attrs.push(attribute("http.response.status_code", json!(status)));
        }
        let failed = call.error.is_some();
        if let Some(e) = &call.error {
            attrs.push(attribute("error.message", json!(e)));
        }
        calls.0.push(json!({
            "traceId": self.trace_id,
            "spanId": random_id::<8>(),
            "parentSpanId": self.span_id,
            "name": format!("{} {}", call.method, route_of(call.path)),
            "kind": 3,
            "startTimeUnixNano": unix_nanos(call.started),
            "endTimeUnixNano": unix_nanos(call.ended),
            "attributes": attrs,
            "status": { "code": if failed { 2 } else { 0 } },
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_routes_are_read_as_the_specification_says() {
        assert_eq!(
            parse_headers("api-key=a%20b, x=1,=bad,nothing"),
            vec![("api-key".into(), "a b".into()), ("x".into(), "1".into())]
        );
        assert_eq!(
            route_of("/task-instances/0190a0b4-5c1e-7d2e-8f00-000000000001/heartbeat"),
            "/task-instances/{id}/heartbeat"
        );
    }

    #[test]
    fn ids_are_hex_of_the_right_length_and_the_traceparent_is_w3c() {
        let t = TryTrace::start(Exporter {
            url: "http://127.0.0.1:1/v1/traces".into(),
            service: "s".into(),
            headers: vec![],
        });
        let tp = t.traceparent();
        let fields: Vec<&str> = tp.split('-').collect();
        assert_eq!(fields.len(), 4);
        assert_eq!(fields[0], "00");
        assert_eq!(fields[1].len(), 32);
        assert_eq!(fields[2].len(), 16);
        assert_eq!(fields[3], "01");
        assert!(
            fields[1]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }
}
