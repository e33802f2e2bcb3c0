//! DAGs in code: tasks, their order, and how they retry and time out.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use airlock_protocol::dag::{
    CallbackDefinition, CallbackEvent, DEFAULT_CALLBACK_TIMEOUT_SECS, DagDefinition, Schedule,
    TaskDefinition, TriggerRule, callback_task_id,
};

use crate::operator::Operator;

/// A task: an operator plus its scheduling settings.
#[derive(Clone)]
pub struct Task {
    pub(crate) def: TaskDefinition,
    pub(crate) operator: Arc<dyn Operator>,
    callbacks: Vec<(CallbackEvent, Arc<dyn Operator>)>,
    callback_timeout: Option<Duration>,
}

impl Task {
    /// A task `task_id` running `operator` (no upstreams, no retries, `all_success`).
    pub fn new(task_id: impl Into<String>, operator: impl Operator) -> Self {
        let def = TaskDefinition {
            operator: Some(operator.type_name().to_owned()),
            priority_weight: 1,
            ..TaskDefinition::new(task_id)
        };
        Self {
            def,
            operator: Arc::new(operator),
            callbacks: Vec::new(),
            callback_timeout: None,
        }
    }

    /// How long its callbacks may run before they are stopped (default 5 minutes).
    pub fn callback_timeout(mut self, timeout: Duration) -> Self {
        self.callback_timeout = Some(timeout);
        self
    }

    /// Calls `callback` (isolated, like a task, with its own log) when this task fails with no
    /// retry left. It cannot change the task's or the run's state.
    pub fn on_failure(self, callback: impl Operator) -> Self {
        self.callback(CallbackEvent::Failure, callback)
    }

    /// Calls `callback` when a try of this task fails and the task will be retried.
    pub fn on_retry(self, callback: impl Operator) -> Self {
        self.callback(CallbackEvent::Retry, callback)
    }

    /// Calls `callback` when this task succeeds.
    pub fn on_success(self, callback: impl Operator) -> Self {
        self.callback(CallbackEvent::Success, callback)
    }

    fn callback(mut self, event: CallbackEvent, callback: impl Operator) -> Self {
        self.callbacks.retain(|(e, _)| *e != event);
        self.callbacks.push((event, Arc::new(callback)));
        self
    }

    /// The callback task following `of_task` (the run when `None`) for `event`.
    fn callback_task(
        event: CallbackEvent,
        of_task: Option<&str>,
        callback: Arc<dyn Operator>,
    ) -> Self {
        let def = TaskDefinition {
            operator: Some(callback.type_name().to_owned()),
            execution_timeout: Some(DEFAULT_CALLBACK_TIMEOUT_SECS),
            callback: Some(CallbackDefinition {
                event,
                of_task: of_task.map(str::to_owned),
            }),
            ..TaskDefinition::new(callback_task_id(event, of_task))
        };
        Self {
            def,
            operator: callback,
            callbacks: Vec::new(),
            callback_timeout: None,
        }
    }

    /// Runs after these tasks.
    pub fn after<I: IntoIterator<Item = S>, S: Into<String>>(mut self, upstream: I) -> Self {
        self.def
            .upstream
            .extend(upstream.into_iter().map(Into::into));
        self
    }

    /// Retries after a failure.
    pub fn retries(mut self, n: u32) -> Self {
        self.def.retries = n;
        self
    }

    /// Delay before a retry.
    pub fn retry_delay(mut self, d: Duration) -> Self {
        self.def.retry_delay = d.as_secs_f64();
        self
    }

    /// Doubles the delay after each retry, up to `max`.
    pub fn exponential_backoff(mut self, max: Duration) -> Self {
        self.def.retry_exponential_backoff = true;
        self.def.max_retry_delay = Some(max.as_secs_f64());
        self
    }

    /// Longest a try may run; the supervisor stops it after that.
    pub fn execution_timeout(mut self, d: Duration) -> Self {
        self.def.execution_timeout = Some(d.as_secs_f64());
        self
    }

    /// When it may run, given its upstreams.
    pub fn trigger_rule(mut self, rule: TriggerRule) -> Self {
        self.def.trigger_rule = rule;
        self
    }

    /// One instance per element of the list `upstream` returns (it becomes an upstream too).
    pub fn map_over(mut self, upstream: impl Into<String>) -> Self {
        let up = upstream.into();
        if !self.def.upstream.contains(&up) {
            self.def.upstream.push(up.clone());
        }
        self.def.map_over = Some(up);
        self
    }

    /// Executor queue.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.def.queue = queue.into();
        self
    }

    /// The pool whose slots its task instances take while queued or running (default
    /// `default_pool`), and how many each takes.
    pub fn pool(mut self, pool: impl Into<String>, slots: u32) -> Self {
        self.def.pool = pool.into();
        self.def.pool_slots = slots;
        self
    }

    /// Most of its task instances queued or running at once over all runs of the DAG, and in
    /// one run (a mapped task's indexes); `None` for no limit.
    pub fn max_active(mut self, per_dag: Option<u32>, per_run: Option<u32>) -> Self {
        self.def.max_active_tis_per_dag = per_dag;
        self.def.max_active_tis_per_dagrun = per_run;
        self
    }

    /// Task group path (`outer.inner`).
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.def.task_group_id = Some(group.into());
        self
    }

    /// Priority (higher runs first).
    pub fn priority(mut self, weight: i64) -> Self {
        self.def.priority_weight = weight;
        self
    }

    /// Makes it an error task (Digdag's `_error`): it runs only once the rest of its run has
    /// failed (cleanup, alerting), and the run stays failed. Its upstreams must be error tasks.
    pub fn on_run_failure(mut self) -> Self {
        self.def.error_task = true;
        self
    }

    /// The task id.
    pub fn task_id(&self) -> &str {
        &self.def.task_id
    }
}

/// A DAG: named tasks and the order between them.
#[derive(Clone)]
pub struct Dag {
    pub(crate) def: DagDefinition,
    pub(crate) tasks: BTreeMap<String, Task>,
}

impl Dag {
    /// An empty DAG.
    pub fn new(dag_id: impl Into<String>) -> Self {
        let dag_id = dag_id.into();
        Self {
            def: DagDefinition {
                relative_fileloc: Some(format!("dags/{dag_id}")),
                ..DagDefinition::new(dag_id)
            },
            tasks: BTreeMap::new(),
        }
    }

    /// What it does.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.def.description = Some(d.into());
        self
    }

    /// Tags.
    pub fn tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tags: I) -> Self {
        self.def.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Most task instances of this DAG (over all its runs) queued or running at once.
    pub fn max_active_tasks(mut self, n: u32) -> Self {
        self.def.max_active_tasks = Some(n);
        self
    }

    /// Runs on a schedule: a five-field cron expression (`"0 3 * * *"`, read in the DAG's
    /// [`timezone`](Self::timezone)) or a preset (`"@hourly"`, `"@daily"`, `"@weekly"`,
    /// `"@monthly"`, `"@quarterly"`, `"@yearly"`, `"@once"`). Each run covers the data interval
    /// from one tick to the next and starts when it ends.
    pub fn schedule(mut self, cron: impl Into<String>) -> Self {
        self.def.schedule = Some(Schedule::Cron(cron.into()));
        self
    }

    /// Runs every `interval`, intervals starting at the start date.
    pub fn every(mut self, interval: Duration) -> Self {
        self.def.schedule = Some(Schedule::Every {
            every: interval.as_secs_f64(),
        });
        self
    }

    /// The IANA time zone a cron schedule is read in (`"Europe/Amsterdam"`; default UTC).
    pub fn timezone(mut self, tz: impl Into<String>) -> Self {
        self.def.timezone = Some(tz.into());
        self
    }

    /// The first data interval starts at or after `at`.
    pub fn start_date(mut self, at: chrono::DateTime<chrono::Utc>) -> Self {
        self.def.start_date = Some(at);
        self
    }

    /// No data interval starts after `at`.
    pub fn end_date(mut self, at: chrono::DateTime<chrono::Utc>) -> Self {
        self.def.end_date = Some(at);
        self
    }

    /// Create a run for every interval since the start date (default: only the latest).
    pub fn catchup(mut self, catchup: bool) -> Self {
        self.def.catchup = catchup;
        self
    }

    /// Most runs running at once (default 16); further due runs wait in `queued`.
    pub fn max_active_runs(mut self, n: u32) -> Self {
        self.def.max_active_runs = Some(n);
        self
    }

    /// Fails a run that takes longer than `timeout` and stops its running tasks.
    pub fn dagrun_timeout(mut self, timeout: Duration) -> Self {
        self.def.dagrun_timeout = Some(timeout.as_secs_f64());
        self
    }

    /// Adds a notifier (e.g. `Notifier::webhook("alerts").on_retry(true)`).
    pub fn notify(mut self, notifier: airlock_protocol::dag::NotifierDefinition) -> Self {
        self.def.notifiers.push(notifier);
        self
    }

    /// Adds a task (replacing one with the same id), and its callbacks.
    pub fn task(mut self, mut task: Task) -> Self {
        for (event, callback) in std::mem::take(&mut task.callbacks) {
            let mut cb = Task::callback_task(event, Some(&task.def.task_id), callback);
            if let Some(t) = task.callback_timeout {
                cb.def.execution_timeout = Some(t.as_secs_f64());
            }
            self.tasks.insert(cb.def.task_id.clone(), cb);
        }
        self.tasks.insert(task.def.task_id.clone(), task);
        self
    }

    /// Calls `callback` (isolated, like a task) once a run of this DAG has failed; the run
    /// ends after it, still failed.
    pub fn on_failure(self, callback: impl Operator) -> Self {
        self.run_callback(CallbackEvent::Failure, callback)
    }

    /// Calls `callback` once a run of this DAG has succeeded; the run ends after it.
    pub fn on_success(self, callback: impl Operator) -> Self {
        self.run_callback(CallbackEvent::Success, callback)
    }

    fn run_callback(mut self, event: CallbackEvent, callback: impl Operator) -> Self {
        let cb = Task::callback_task(event, None, Arc::new(callback));
        self.tasks.insert(cb.def.task_id.clone(), cb);
        self
    }

    /// The DAG id.
    pub fn dag_id(&self) -> &str {
        &self.def.dag_id
    }

    /// A task by id.
    pub fn get(&self, task_id: &str) -> Option<&Task> {
        self.tasks.get(task_id)
    }

    /// Whether some task maps over `task_id`'s result (which must then be a list).
    pub fn is_mapped_over(&self, task_id: &str) -> bool {
        self.tasks
            .values()
            .any(|t| t.def.map_over.as_deref() == Some(task_id))
    }

    /// The definition the server registers, after checking that upstreams exist, that there
    /// is no cycle and that mapped tasks map over an unmapped upstream.
    pub fn definition(&self) -> Result<DagDefinition, String> {
        let mut def = self.def.clone();
        def.tasks = self.tasks.values().map(|t| t.def.clone()).collect();
        def.validate()?;
        Ok(def)
    }
}
