//! A worker's metrics (served with `airlock worker --metrics-bind`): its slots, how many are in
//! use, and how its supervisors exited.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExitLabels {
    /// The exit code, or `signal` when a signal ended it.
    code: String,
}

/// The executor's metrics.
#[derive(Debug, Default, Clone)]
pub struct ExecutorMetrics {
    slots: Gauge,
    in_use: Gauge,
    exits: Family<ExitLabels, Counter>,
}

impl ExecutorMetrics {
    /// Registers them in `registry` (prefix `airlock_worker`).
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("worker");
        r.register(
            "slots",
            "Task instances this worker runs at once",
            self.slots.clone(),
        );
        r.register(
            "slots_in_use",
            "Supervisors running now",
            self.in_use.clone(),
        );
        r.register(
            "supervisor_exits",
            "Supervisors that exited, by exit code",
            self.exits.clone(),
        );
    }

    /// How many slots there are.
    pub fn slots(&self, n: usize) {
        self.slots.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// How many supervisors run now.
    pub fn in_use(&self, n: usize) {
        self.in_use.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// A supervisor exited with `code` (`None`: a signal ended it).
    pub fn exited(&self, code: Option<i32>) {
        let code = code.map_or_else(|| "signal".to_owned(), |c| c.to_string());
        self.exits.get_or_create(&ExitLabels { code }).inc();
    }
}
