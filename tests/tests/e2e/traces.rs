//! OpenTelemetry traces: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, every try's supervisor sends
//! one trace to the collector (here a small in-test OTLP/HTTP server): a root span for the try
//! with a child span per API call, and task code sees the try's `traceparent`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airlock_e2e::Backend;
use airlock_e2e::process::eventually;
use airlock_e2e::standalone::Standalone;
use airlock_protocol::state::DagRunState;
use serde_json::{Value, json};

/// Every span received, by trace id.
type Traces = BTreeMap<String, Vec<Value>>;

fn spans_by_trace(bodies: &[Value]) -> Traces {
    let mut traces = Traces::new();
    for body in bodies {
        for rs in body["resourceSpans"].as_array().into_iter().flatten() {
            assert_eq!(
                rs["resource"]["attributes"][0]["key"], "service.name",
                "{rs}"
            );
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for span in ss["spans"].as_array().into_iter().flatten() {
                    let id = span["traceId"].as_str().unwrap_or_default().to_owned();
                    traces.entry(id).or_default().push(span.clone());
                }
            }
        }
    }
    traces
}

fn attr<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_try_sends_one_trace_with_its_api_calls_nested() {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
                let sink = sink.clone();
                async move {
                    assert_eq!(headers["x-team"], "data eng");
                    if let Ok(mut s) = sink.lock() {
                        s.push(body);
                    }
                    axum::Json(json!({}))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let endpoint = format!(
        "http://{}",
        listener
            .local_addr()
            .unwrap_or_else(|e| panic!("address: {e}"))
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let a = Standalone::start_with(
        Backend::Sqlite,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-team=data%20eng"),
            ("OTEL_SERVICE_NAME", "airlock-test"),
        ],
    )
    .await
    .unwrap_or_else(|| panic!("sqlite is always available"));
    let (out, etl) = a.run_dag("etl", json!({}));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(etl.state, DagRunState::Success);
    let (out, traced) = a.run_dag("traced", json!({}));
    assert_eq!(out.code, Some(0), "{out:?}");

    // Four tries (three of etl, one of traced): four traces, sent as the tries end.
    let traces = eventually(Duration::from_secs(30), "four traces", || {
        let bodies = received.lock().map(|b| b.clone()).unwrap_or_default();
        async move {
            let t = spans_by_trace(&bodies);
            (t.len() >= 4).then_some(t)
        }
    })
    .await;
    assert_eq!(traces.len(), 4, "one trace per try: {traces:#?}");
    let mut tasks = Vec::new();
    for (trace_id, spans) in &traces {
        assert_eq!(trace_id.len(), 32, "{trace_id}");
        let roots: Vec<&Value> = spans
            .iter()
            .filter(|s| s["parentSpanId"].as_str().unwrap_or_default().is_empty())
            .collect();
        assert_eq!(roots.len(), 1, "one root span per trace: {spans:#?}");
        let root = roots[0];
        let text = |key: &str| {
            attr(root, key)
                .and_then(|v| v["stringValue"].as_str())
                .unwrap_or_default()
                .to_owned()
        };
        tasks.push(format!(
            "{}.{}",
            text("airlock.dag_id"),
            text("airlock.task_id")
        ));
        assert_eq!(root["status"]["code"], 1, "an ok try: {root}");
        let children: Vec<&Value> = spans.iter().filter(|s| *s != root).collect();
        assert!(
            children.len() >= 3,
            "details, start and finish calls at least: {spans:#?}"
        );
        for c in &children {
            assert_eq!(c["parentSpanId"], root["spanId"], "{c}");
            assert_eq!(c["kind"], 3, "{c}");
            assert!(attr(c, "http.request.method").is_some(), "{c}");
            let (start, end) = (
                c["startTimeUnixNano"]
                    .as_str()
                    .unwrap_or_default()
                    .parse::<u128>(),
                c["endTimeUnixNano"]
                    .as_str()
                    .unwrap_or_default()
                    .parse::<u128>(),
            );
            assert!(matches!((start, end), (Ok(s), Ok(e)) if s <= e), "{c}");
        }
        let names: Vec<&str> = children.iter().filter_map(|c| c["name"].as_str()).collect();
        assert!(
            names.contains(&"PATCH /task-instances/{id}/run"),
            "{names:?}"
        );
    }
    tasks.sort();
    assert_eq!(
        tasks,
        ["etl.extract", "etl.load", "etl.transform", "traced.report"]
    );

    // Task code got the try's span as its parent.
    let seen = a
        .return_value("traced", &traced.run_id, "report", -1)
        .await
        .unwrap_or_else(|| panic!("no return value"));
    let traceparent = seen["traceparent"].as_str().unwrap_or_default().to_owned();
    let matching = traces.iter().find_map(|(id, spans)| {
        let root = spans
            .iter()
            .find(|s| s["parentSpanId"].as_str().unwrap_or_default().is_empty())?;
        (traceparent == format!("00-{id}-{}-01", root["spanId"].as_str()?)).then_some(id)
    });
    assert!(
        matching.is_some(),
        "{traceparent} is no try's span: {traces:#?}"
    );
}
