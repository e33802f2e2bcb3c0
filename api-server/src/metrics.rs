//! Prometheus metrics of the API server, scraped at `GET /metrics` (OpenMetrics text).
//!
//! Request latency and scheduler passes are recorded as they happen; the task-instance and run
//! counts are read from the database when scraped (one grouped query each, bounded by
//! [`SCRAPE_QUERY_TIMEOUT`]), so they agree with what `airlock runs show` reads. A scrape runs
//! like any request: it never holds anything request handling needs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::state::AppState;

/// Longest the database may take to answer a scrape's counts.
const SCRAPE_QUERY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    state: String,
    queue: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    state: String,
}

fn latency_buckets() -> Histogram {
    // 0.5 ms to ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The API server's metrics.
pub struct Metrics {
    registry: Registry,
    http: Family<RouteLabels, Histogram, fn() -> Histogram>,
    passes: Histogram,
    failed_passes: Counter,
    claimed: Counter,
    task_instances: Family<TaskLabels, Gauge>,
    runs: Family<RunLabels, Gauge>,
    /// One scrape refreshes the database gauges at a time.
    scrape: tokio::sync::Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("airlock");
        let http = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_buckets as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by route, method and status",
            http.clone(),
        );
        let passes = latency_buckets();
        registry.register(
            "scheduler_pass_duration_seconds",
            "Time a scheduling pass took (on the leading replica)",
            passes.clone(),
        );
        let failed_passes = Counter::default();
        registry.register(
            "scheduler_failed_passes",
            "Scheduling passes that failed (and were retried)",
            failed_passes.clone(),
        );
        let claimed = Counter::default();
        registry.register(
            "claimed_task_instances",
            "Task instances handed to executors by their ticks",
            claimed.clone(),
        );
        let task_instances = Family::<TaskLabels, Gauge>::default();
        registry.register(
            "task_instances",
            "Task instances by state (`none`: not scheduled yet) and queue",
            task_instances.clone(),
        );
        let runs = Family::<RunLabels, Gauge>::default();
        registry.register("dag_runs", "DAG runs by state", runs.clone());
        Self {
            registry,
            http,
            passes,
            failed_passes,
            claimed,
            task_instances,
            runs,
            scrape: tokio::sync::Mutex::new(()),
        }
    }
}

impl Metrics {
    /// Records a scheduling pass (`ok`: it completed).
    pub fn pass(&self, took: Duration, ok: bool) {
        self.passes.observe(took.as_secs_f64());
        if !ok {
            self.failed_passes.inc();
        }
    }

    /// Records task instances handed to an executor.
    pub fn claimed(&self, n: usize) {
        self.claimed.inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }

    fn request(&self, route: &str, method: &str, status: StatusCode, took: Duration) {
        self.http
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status: status.as_u16(),
            })
            .observe(took.as_secs_f64());
    }
}

/// Times every request to a known route (labelled by its template, so ids do not multiply the
/// series).
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    metrics.request(&route, &method, response.status(), started.elapsed());
    response
}

async fn refresh_counts(s: &AppState) -> Result<(), sqlx::Error> {
    let tis: Vec<(Option<String>, String, i64)> =
        sqlx::query_as("SELECT state, queue, COUNT(*) FROM task_instance GROUP BY state, queue")
            .fetch_all(s.db.pool())
            .await?;
    let runs: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, COUNT(*) FROM dag_run GROUP BY state")
            .fetch_all(s.db.pool())
            .await?;
    let m = &s.metrics;
    m.task_instances.clear();
    for (state, queue, n) in tis {
        let labels = TaskLabels {
            state: state.unwrap_or_else(|| "none".into()),
            queue,
        };
        m.task_instances.get_or_create(&labels).set(n);
    }
    m.runs.clear();
    for (state, n) in runs {
        m.runs.get_or_create(&RunLabels { state }).set(n);
    }
    Ok(())
}

/// `GET /metrics`: every metric in the OpenMetrics text format. When the database does not
/// answer in time the counts keep their last values and the rest is served.
pub async fn scrape(State(s): State<AppState>) -> Response {
    let _one_at_a_time = s.metrics.scrape.lock().await;
    match tokio::time::timeout(SCRAPE_QUERY_TIMEOUT, refresh_counts(&s)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: cannot count task instances and runs"),
        Err(_) => tracing::warn!("metrics: the database did not answer the counts in time"),
    }
    airlock_metrics::respond(&s.metrics.registry)
}
