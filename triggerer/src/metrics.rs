//! A triggerer's metrics (served with `--metrics-bind`): triggers held, how late timers fire,
//! and the outcomes reported.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The triggerer's metrics; clones share their values.
#[derive(Debug, Clone)]
pub struct TriggererMetrics {
    held: Gauge,
    lateness: Histogram,
    outcomes: Counter,
    batches: Counter,
}

impl Default for TriggererMetrics {
    fn default() -> Self {
        Self {
            held: Gauge::default(),
            // 0.1 ms to ~3 s.
            lateness: Histogram::new(exponential_buckets(0.0001, 2.0, 15)),
            outcomes: Counter::default(),
            batches: Counter::default(),
        }
    }
}

impl TriggererMetrics {
    /// Registers them in `registry` (prefix `airlock_triggerer`).
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("triggerer");
        r.register(
            "triggers_held",
            "Triggers running here now",
            self.held.clone(),
        );
        r.register(
            "fire_lateness_seconds",
            "How long after its moment a time trigger fired",
            self.lateness.clone(),
        );
        r.register(
            "outcomes_reported",
            "Trigger outcomes the API server accepted",
            self.outcomes.clone(),
        );
        r.register(
            "outcome_batches",
            "Requests that reported outcomes",
            self.batches.clone(),
        );
    }

    pub(crate) fn held(&self, n: usize) {
        self.held.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub(crate) fn fired_late(&self, by: Duration) {
        self.lateness.observe(by.as_secs_f64());
    }

    pub(crate) fn reported(&self, outcomes: usize) {
        self.batches.inc();
        self.outcomes
            .inc_by(u64::try_from(outcomes).unwrap_or(u64::MAX));
    }
}
