//! DAG definitions as bundles describe them (`<bundle> dags` prints a [`BundleDefinition`]) and
//! as the server registers them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// When a task may run, given its upstream tasks' states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TriggerRule {
    /// Every upstream succeeded (the default).
    #[default]
    AllSuccess,
    /// Every upstream failed.
    AllFailed,
    /// Every upstream finished, whatever the outcome.
    AllDone,
    /// At least one upstream succeeded.
    OneSuccess,
    /// At least one upstream failed.
    OneFailed,
    /// No upstream failed (success or skipped).
    NoneFailed,
    /// No upstream was skipped.
    NoneSkipped,
    /// Run regardless.
    Always,
}

impl TriggerRule {
    /// Every rule.
    pub const ALL: &'static [TriggerRule] = &[
        Self::AllSuccess,
        Self::AllFailed,
        Self::AllDone,
        Self::OneSuccess,
        Self::OneFailed,
        Self::NoneFailed,
        Self::NoneSkipped,
        Self::Always,
    ];

    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AllSuccess => "all_success",
            Self::AllFailed => "all_failed",
            Self::AllDone => "all_done",
            Self::OneSuccess => "one_success",
            Self::OneFailed => "one_failed",
            Self::NoneFailed => "none_failed",
            Self::NoneSkipped => "none_skipped",
            Self::Always => "always",
        }
    }

    /// The rule spelled `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.as_str() == s)
    }
}

/// A task of a DAG.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct TaskDefinition {
    /// Task id (unique in the DAG).
    pub task_id: String,
    /// The operator's type name (informational).
    #[serde(default)]
    pub operator: Option<String>,
    /// Tasks that must finish first.
    #[serde(default)]
    pub upstream: Vec<String>,
    /// When it may run, given the upstreams.
    #[serde(default)]
    pub trigger_rule: TriggerRule,
    /// Retries after a failure.
    #[serde(default)]
    pub retries: u32,
    /// Seconds between a failure and the retry.
    #[serde(default = "default_retry_delay")]
    pub retry_delay: f64,
    /// Double the delay after each retry.
    #[serde(default)]
    pub retry_exponential_backoff: bool,
    /// Longest delay between retries, in seconds.
    #[serde(default)]
    pub max_retry_delay: Option<f64>,
    /// Longest a try may run, in seconds.
    #[serde(default)]
    pub execution_timeout: Option<f64>,
    /// Map over the list an upstream task returned: one task instance per element.
    #[serde(default)]
    pub map_over: Option<String>,
    /// Executor queue.
    #[serde(default = "default_queue")]
    pub queue: String,
    /// Task group path (`outer.inner`).
    #[serde(default)]
    pub task_group_id: Option<String>,
    /// Higher runs first.
    #[serde(default = "default_weight")]
    pub priority_weight: i64,
    /// The pool whose slots its task instances take while queued or running.
    #[serde(default = "default_pool")]
    pub pool: String,
    /// How many of the pool's slots each of its task instances takes (at least 1).
    #[serde(default = "one_slot")]
    pub pool_slots: u32,
    /// Most of its task instances queued or running at once, over all runs of the DAG.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_active_tis_per_dag: Option<u32>,
    /// Most of its task instances queued or running at once in one run (a mapped task's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_active_tis_per_dagrun: Option<u32>,
    /// An error task (Digdag's `_error`): runs only once the rest of its run has failed, and
    /// does not change the run's state. Its upstreams, if any, are error tasks too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub error_task: bool,
    /// Set on a callback: the task is run by the scheduler when the event happens to the task
    /// it names (or to the run), never as part of a run's plan. Its id is
    /// [`callback_task_id`]; its task instance's map index is the try it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackDefinition>,
}

/// What a callback is called for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct CallbackDefinition {
    /// The event.
    pub event: CallbackEvent,
    /// The task whose tries it follows; none: the run (failure or success only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub of_task: Option<String>,
}

/// When a callback is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CallbackEvent {
    /// A task failed with no retry left (or the run failed).
    Failure,
    /// A try failed and the task will be retried.
    Retry,
    /// A task (or the run) succeeded.
    Success,
}

impl CallbackEvent {
    /// Its name (`failure`, `retry`, `success`).
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackEvent::Failure => "failure",
            CallbackEvent::Retry => "retry",
            CallbackEvent::Success => "success",
        }
    }
}

/// Prefix of every callback's task id; no other task id may start with it.
pub const CALLBACK_PREFIX: &str = "__on_";

/// Seconds a callback may run unless it says otherwise.
pub const DEFAULT_CALLBACK_TIMEOUT_SECS: f64 = 300.0;

/// What a callback's task id says: its event, and the task it follows (none: the run).
pub fn parse_callback_task_id(id: &str) -> Option<(CallbackEvent, Option<&str>)> {
    let rest = id.strip_prefix(CALLBACK_PREFIX)?;
    let (event, of) = match rest.split_once("__") {
        Some((event, "")) => (event, None),
        Some((event, of)) => (event, Some(of.strip_prefix(':')?)),
        None => return None,
    };
    let event = match event {
        "failure" => CallbackEvent::Failure,
        "retry" => CallbackEvent::Retry,
        "success" => CallbackEvent::Success,
        _ => return None,
    };
    Some((event, of))
}

/// The task id of the callback for `event` of task `of_task` (of the run when `None`):
/// `__on_failure__:extract`, `__on_success__`.
pub fn callback_task_id(event: CallbackEvent, of_task: Option<&str>) -> String {
    match of_task {
        Some(t) => format!("{CALLBACK_PREFIX}{}__:{t}", event.as_str()),
        None => format!("{CALLBACK_PREFIX}{}__", event.as_str()),
    }
}

impl TaskDefinition {
    /// A task with the defaults: no upstreams, `all_success`, no retries.
    pub fn new(task_id: impl Into<String>) -> Self {
        Self {
            task_id: task_id.into(),
            operator: None,
            upstream: Vec::new(),
            trigger_rule: TriggerRule::default(),
            retries: 0,
            retry_delay: default_retry_delay(),
            retry_exponential_backoff: false,
            max_retry_delay: None,
            execution_timeout: None,
            map_over: None,
            queue: default_queue(),
            task_group_id: None,
            priority_weight: default_weight(),
            pool: default_pool(),
            pool_slots: one_slot(),
            max_active_tis_per_dag: None,
            max_active_tis_per_dagrun: None,
            error_task: false,
            callback: None,
        }
    }
}

/// The pool of tasks that name none (it always exists).
pub const DEFAULT_POOL: &str = "default_pool";

fn default_pool() -> String {
    DEFAULT_POOL.into()
}

fn one_slot() -> u32 {
    1
}

fn default_retry_delay() -> f64 {
    300.0
}

fn default_queue() -> String {
    "default".into()
}

fn default_weight() -> i64 {
    1
}

/// A DAG.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct DagDefinition {
    /// DAG id.
    pub dag_id: String,
    /// What it does.
    #[serde(default)]
    pub description: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Owners, comma-separated.
    #[serde(default)]
    pub owners: Option<String>,
    /// Most task instances of the DAG (over all its runs) queued or running at once.
    #[serde(default)]
    pub max_active_tasks: Option<u32>,
    /// Where the DAG is defined (informational; `dag_rel_path` for the runner).
    #[serde(default)]
    pub relative_fileloc: Option<String>,
    /// When the scheduler creates runs on its own (none: only when triggered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// The IANA time zone a cron schedule is read in (default `UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The first data interval starts at or after this moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<chrono::DateTime<chrono::Utc>>,
    /// No data interval starts after this moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<chrono::DateTime<chrono::Utc>>,
    /// Create a run for every interval since `start_date` (else only the latest).
    #[serde(default)]
    pub catchup: bool,
    /// Most runs of the DAG running at once (others wait in `queued`); default 16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_active_runs: Option<u32>,
    /// Seconds a run may take before it is failed and its running tasks stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dagrun_timeout: Option<f64>,
    /// Who is told when its tasks fail, retry or succeed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifiers: Vec<NotifierDefinition>,
    /// Its tasks.
    pub tasks: Vec<TaskDefinition>,
}

/// A notifier: events of a DAG's tasks sent to an endpoint taken from a Connection. Delivered
/// at least once, each with an idempotency key that stays the same across deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct NotifierDefinition {
    /// How it delivers: `webhook` (an HTTP POST of a JSON document) or `email` (SMTP).
    #[serde(default)]
    pub kind: NotifierKind,
    /// The Connection holding the endpoint (`host`, `schema`, `port`, `login`/`password`,
    /// extra `endpoint` and `headers`).
    pub conn_id: String,
    /// A task failed with no retry left.
    #[serde(default = "yes")]
    pub on_failure: bool,
    /// A try failed and the task will be retried.
    #[serde(default)]
    pub on_retry: bool,
    /// A task succeeded.
    #[serde(default)]
    pub on_success: bool,
}

fn yes() -> bool {
    true
}

impl NotifierDefinition {
    /// A webhook to the endpoint of Connection `conn_id`, told of final failures only.
    pub fn webhook(conn_id: impl Into<String>) -> Self {
        Self {
            kind: NotifierKind::Webhook,
            conn_id: conn_id.into(),
            on_failure: true,
            on_retry: false,
            on_success: false,
        }
    }

    /// An e-mail through the SMTP server of Connection `conn_id` (sender and recipients in its
    /// extra), for final failures only.
    pub fn email(conn_id: impl Into<String>) -> Self {
        Self {
            kind: NotifierKind::Email,
            ..Self::webhook(conn_id)
        }
    }

    /// Whether it is told when a task fails with no retry left.
    pub fn on_failure(mut self, yes: bool) -> Self {
        self.on_failure = yes;
        self
    }

    /// Whether it is told when a try fails and the task will be retried.
    pub fn on_retry(mut self, yes: bool) -> Self {
        self.on_retry = yes;
        self
    }

    /// Whether it is told when a task succeeds.
    pub fn on_success(mut self, yes: bool) -> Self {
        self.on_success = yes;
        self
    }
}

/// How a notifier delivers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NotifierKind {
    /// An HTTP POST of a JSON document.
    #[default]
    Webhook,
    /// An e-mail through an SMTP server.
    Email,
}

impl NotifierKind {
    /// Its name (`webhook`, `email`).
    pub fn as_str(self) -> &'static str {
        match self {
            NotifierKind::Webhook => "webhook",
            NotifierKind::Email => "email",
        }
    }
}

/// Most notifiers on one DAG.
pub const MAX_NOTIFIERS: usize = 16;

/// When a DAG runs on its own: a cron expression (five fields, read in the DAG's time zone),
/// a preset (`@hourly`, `@daily`, `@weekly`, `@monthly`, `@quarterly`, `@yearly`, `@once`), or
/// a fixed interval in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Schedule {
    /// A cron expression or a preset.
    Cron(String),
    /// A fixed interval.
    Every {
        /// Seconds between interval starts.
        every: f64,
    },
}

/// When a DAG runs on its own: what the scheduler's timetable is built from (stored as one
/// document).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DagTiming {
    /// The schedule.
    pub schedule: Schedule,
    /// Time zone of a cron schedule.
    #[serde(default)]
    pub timezone: Option<String>,
    /// First interval starts at or after it.
    #[serde(default)]
    pub start_date: Option<chrono::DateTime<chrono::Utc>>,
    /// No interval starts after it.
    #[serde(default)]
    pub end_date: Option<chrono::DateTime<chrono::Utc>>,
    /// Every interval since the start date, or only the latest.
    #[serde(default)]
    pub catchup: bool,
}

/// Runs of a DAG at once unless it says otherwise (Airflow's `max_active_runs_per_dag`).
pub const DEFAULT_MAX_ACTIVE_RUNS: u32 = 16;

/// What a bundle executable declares (`<bundle> dags`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct BundleDefinition {
    /// The bundle's name (its executable's file name in the bundles directory).
    pub bundle: String,
    /// Its version, if it has one.
    #[serde(default)]
    pub version: Option<String>,
    /// Its DAGs.
    pub dags: Vec<DagDefinition>,
}

/// Longest DAG, task or run id accepted, in bytes (as Airflow's `String(250)` columns; bytes,
/// so that an index over several ids stays below PostgreSQL's index-row limit).
pub const MAX_ID_LEN: usize = 250;

/// Orders tasks so that upstreams come first, layer by layer (the tasks whose upstreams are all
/// placed, in their previous order, then the next layer); tasks in a cycle, which registration
/// refuses, keep their place at the end. Linear in tasks and edges: run details order every
/// answer with it.
pub fn sort_by_dependencies(tasks: &mut Vec<TaskDefinition>) {
    use std::collections::HashMap;
    let index: HashMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.task_id.as_str(), i))
        .collect();
    // Upstreams a task still waits for (unknown ones never come), and who waits on whom.
    let mut waiting: Vec<usize> = vec![0; tasks.len()];
    let mut downstream: Vec<Vec<usize>> = vec![Vec::new(); tasks.len()];
    for (i, t) in tasks.iter().enumerate() {
        for up in &t.upstream {
            match index.get(up.as_str()) {
                Some(&u) => {
                    waiting[i] = waiting[i].saturating_add(1);
                    downstream[u].push(i);
                }
                None => waiting[i] = usize::MAX,
            }
        }
    }
    let mut order: Vec<usize> = Vec::with_capacity(tasks.len());
    let mut layer: Vec<usize> = (0..tasks.len()).filter(|&i| waiting[i] == 0).collect();
    while !layer.is_empty() {
        order.extend(&layer);
        let mut next = Vec::new();
        for &u in &layer {
            for &d in &downstream[u] {
                if waiting[d] != usize::MAX {
                    waiting[d] -= 1;
                    if waiting[d] == 0 {
                        next.push(d);
                    }
                }
            }
        }
        next.sort_unstable();
        layer = next;
    }
    let mut placed = vec![false; tasks.len()];
    for &i in &order {
        placed[i] = true;
    }
    order.extend((0..tasks.len()).filter(|&i| !placed[i]));
    let mut slots: Vec<Option<TaskDefinition>> =
        std::mem::take(tasks).into_iter().map(Some).collect();
    *tasks = order.into_iter().filter_map(|i| slots[i].take()).collect();
}

/// Checks a run id as Airflow's default `allowed_run_id_pattern` does (`^[A-Za-z0-9_.~:+-]+$`,
/// at most [`MAX_ID_LEN`] bytes), and also refuses `..`: a run id becomes a directory name
/// in task-log paths.
pub fn validate_run_id(run_id: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_.~:+-".contains(c);
    if run_id.is_empty() || run_id.len() > MAX_ID_LEN {
        return Err(format!(
            "run id must have 1 to {MAX_ID_LEN} characters (got {})",
            run_id.len()
        ));
    }
    if !run_id.chars().all(allowed) || run_id.contains("..") {
        return Err(format!(
            "run id {run_id:?} may only contain letters, digits and _ . ~ : + - (not \"..\")"
        ));
    }
    Ok(())
}

fn check_id(kind: &str, id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(format!(
            "{kind} id {id:?} must have 1 to {MAX_ID_LEN} characters"
        ));
    }
    if id.chars().any(|c| c.is_control() || c == '/') {
        return Err(format!(
            "{kind} id {id:?} must not contain '/' or control characters"
        ));
    }
    Ok(())
}

/// A callback is named for what it follows, runs alone (no upstreams, no retries, not mapped)
/// and follows an ordinary, unmapped task (or the run); ordinary tasks keep clear of its names.
fn check_callback(
    dag: &str,
    t: &TaskDefinition,
    tasks: &BTreeMap<&str, &TaskDefinition>,
) -> Result<(), String> {
    let id = &t.task_id;
    let Some(cb) = &t.callback else {
        if id.starts_with(CALLBACK_PREFIX) {
            return Err(format!(
                "{dag}: task id {id:?} starts with {CALLBACK_PREFIX:?}, which is kept for callbacks"
            ));
        }
        return Ok(());
    };
    let expected = callback_task_id(cb.event, cb.of_task.as_deref());
    if *id != expected {
        return Err(format!("{dag}: callback {id:?} must be named {expected:?}"));
    }
    if expected.len() > MAX_ID_LEN {
        return Err(format!(
            "{dag}: callback id {expected:?} is longer than {MAX_ID_LEN} bytes (shorten the task id)"
        ));
    }
    if !t.upstream.is_empty() || t.map_over.is_some() || t.retries > 0 || t.error_task {
        return Err(format!(
            "{dag}: callback {id:?} may have no upstreams, mapping, retries or error flag"
        ));
    }
    match cb.of_task.as_deref() {
        None if cb.event == CallbackEvent::Retry => Err(format!(
            "{dag}: callback {id:?}: a run has no retries; only failure and success"
        )),
        None => Ok(()),
        Some(of) => match tasks.get(of) {
            None => Err(format!(
                "{dag}: callback {id:?} follows unknown task {of:?}"
            )),
            Some(o) if o.callback.is_some() || o.map_over.is_some() => Err(format!(
                "{dag}: callback {id:?} follows {of:?}, which is a callback or mapped"
            )),
            Some(_) => Ok(()),
        },
    }
}

impl DagDefinition {
    /// A DAG with no tasks and every setting at its default (manual runs only).
    pub fn new(dag_id: impl Into<String>) -> Self {
        Self {
            dag_id: dag_id.into(),
            description: None,
            tags: Vec::new(),
            owners: None,
            max_active_tasks: None,
            relative_fileloc: None,
            schedule: None,
            timezone: None,
            start_date: None,
            end_date: None,
            catchup: false,
            max_active_runs: None,
            dagrun_timeout: None,
            notifiers: Vec::new(),
            tasks: Vec::new(),
        }
    }

    /// When it runs on its own; `None` for a DAG without a schedule.
    pub fn timing(&self) -> Option<DagTiming> {
        Some(DagTiming {
            schedule: self.schedule.clone()?,
            timezone: self.timezone.clone(),
            start_date: self.start_date,
            end_date: self.end_date,
            catchup: self.catchup,
        })
    }

    /// Checks what a scheduler relies on: valid and unique ids, upstreams that exist, no
    /// dependency cycle, mapped tasks that map over an unmapped upstream, sane retry settings.
    pub fn validate(&self) -> Result<(), String> {
        let dag = &self.dag_id;
        check_id("DAG", dag)?;
        let mut tasks: BTreeMap<&str, &TaskDefinition> = BTreeMap::new();
        for t in &self.tasks {
            check_id("task", &t.task_id).map_err(|e| format!("{dag}: {e}"))?;
            if tasks.insert(&t.task_id, t).is_some() {
                return Err(format!("{dag}: task id {:?} is declared twice", t.task_id));
            }
        }
        for t in &self.tasks {
            check_callback(dag, t, &tasks)?;
        }
        for t in &self.tasks {
            let id = &t.task_id;
            for up in &t.upstream {
                if !tasks.contains_key(up.as_str()) {
                    return Err(format!("{dag}: task {id:?} depends on unknown task {up:?}"));
                }
            }
            for up in &t.upstream {
                if tasks[up.as_str()].callback.is_some() {
                    return Err(format!("{dag}: task {id:?} depends on callback {up:?}"));
                }
                if tasks[up.as_str()].error_task != t.error_task {
                    return Err(if t.error_task {
                        format!(
                            "{dag}: error task {id:?} depends on {up:?}, which is not an error \
                             task (error tasks run after the rest of the run has failed)"
                        )
                    } else {
                        format!("{dag}: task {id:?} depends on error task {up:?}")
                    });
                }
            }
            if let Some(source) = &t.map_over {
                if !t.upstream.contains(source) {
                    return Err(format!(
                        "{dag}: task {id:?} maps over {source:?}, which is not one of its upstreams"
                    ));
                }
                if tasks
                    .get(source.as_str())
                    .is_some_and(|s| s.map_over.is_some())
                {
                    return Err(format!(
                        "{dag}: task {id:?} maps over {source:?}, which is itself mapped"
                    ));
                }
            }
            check_id("pool", &t.pool).map_err(|e| format!("{dag}: task {id:?}: {e}"))?;
            let limits = [
                ("pool_slots", Some(t.pool_slots)),
                ("max_active_tis_per_dag", t.max_active_tis_per_dag),
                ("max_active_tis_per_dagrun", t.max_active_tis_per_dagrun),
            ];
            if let Some((field, _)) = limits.iter().find(|(_, v)| *v == Some(0)) {
                return Err(format!("{dag}: task {id:?}: {field} must be at least 1"));
            }
            let delays = [Some(t.retry_delay), t.max_retry_delay, t.execution_timeout];
            if delays
                .into_iter()
                .flatten()
                .any(|d| !(d.is_finite() && d >= 0.0))
            {
                return Err(format!(
                    "{dag}: task {id:?} has a negative or non-finite delay or timeout"
                ));
            }
        }
        if let (Some(start), Some(end)) = (self.start_date, self.end_date)
            && end < start
        {
            return Err(format!(
                "{dag}: end_date {} is before start_date {}",
                crate::time::to_rfc3339(&end),
                crate::time::to_rfc3339(&start)
            ));
        }
        for (field, value) in [("start_date", self.start_date), ("end_date", self.end_date)] {
            if let Some(v) = value {
                crate::time::check_datetime(v).map_err(|e| format!("{dag}: {field}: {e}"))?;
            }
        }
        if let Some(t) = self.dagrun_timeout
            && !(t.is_finite() && t > 0.0 && t <= crate::time::MAX_DURATION_SECS as f64)
        {
            return Err(format!(
                "{dag}: dagrun_timeout {t} must be a positive number of seconds"
            ));
        }
        if self.notifiers.len() > MAX_NOTIFIERS {
            return Err(format!(
                "{dag}: {} notifiers; at most {MAX_NOTIFIERS} are allowed",
                self.notifiers.len()
            ));
        }
        for n in &self.notifiers {
            check_id("notifier connection", &n.conn_id).map_err(|e| format!("{dag}: {e}"))?;
        }
        if self.max_active_runs == Some(0) {
            return Err(format!("{dag}: max_active_runs must be at least 1"));
        }
        if let Some(Schedule::Every { every }) = &self.schedule
            && !(every.is_finite()
                && *every >= 1.0
                && *every <= crate::time::MAX_DURATION_SECS as f64)
        {
            return Err(format!(
                "{dag}: schedule every {every} s: the interval must be 1 s to 100 years"
            ));
        }
        // Kahn's algorithm: every task must come out in topological order.
        let mut remaining: BTreeMap<&str, BTreeSet<&str>> = tasks
            .values()
            .map(|t| {
                (
                    t.task_id.as_str(),
                    t.upstream.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        while !remaining.is_empty() {
            let ready: Vec<&str> = remaining
                .iter()
                .filter(|(_, ups)| ups.is_empty())
                .map(|(t, _)| *t)
                .collect();
            if ready.is_empty() {
                let stuck: Vec<&str> = remaining.keys().copied().collect();
                return Err(format!("{dag}: dependency cycle among {stuck:?}"));
            }
            for t in ready {
                remaining.remove(t);
                remaining.values_mut().for_each(|ups| {
                    ups.remove(t);
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, up: &[&str]) -> TaskDefinition {
        serde_json::from_value(serde_json::json!({"task_id": id, "upstream": up})).unwrap()
    }

    fn dag(tasks: Vec<TaskDefinition>) -> DagDefinition {
        DagDefinition {
            tasks,
            ..DagDefinition::new("d")
        }
    }

    #[test]
    fn run_ids_follow_airflows_pattern() {
        for ok in [
            "manual__2026-11-23T22:08:23.158973Z",
            "r1",
            "scheduled__2026-01-01T00:00:00+00:00",
        ] {
            assert_eq!(validate_run_id(ok), Ok(()), "{ok}");
        }
        let long = "a".repeat(MAX_ID_LEN + 1);
        for bad in [
            "",
            "a/b",
            "..",
            "x..y",
            "a\nb",
            "\u{1b}[31mred",
            "a b",
            long.as_str(),
        ] {
            assert!(validate_run_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dependency_order_is_by_layer_and_keeps_cycles_and_unknowns_last() {
        let mut tasks = vec![
            task("d", &["b", "c"]),
            task("z", &["nope", "a"]),
            task("c", &["a"]),
            task("x", &["y"]),
            task("b", &["a"]),
            task("y", &["x"]),
            task("a", &[]),
            task("e", &[]),
        ];
        sort_by_dependencies(&mut tasks);
        let ids: Vec<&str> = tasks.iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(ids, ["a", "e", "c", "b", "d", "z", "x", "y"]);
    }

    #[test]
    fn a_valid_dag_passes() {
        let mut m = task("m", &["a"]);
        m.map_over = Some("a".into());
        assert_eq!(
            dag(vec![task("a", &[]), m, task("z", &["m"])]).validate(),
            Ok(())
        );
    }

    #[test]
    fn bad_dags_are_explained() {
        let cases = [
            (dag(vec![task("a", &["b"]), task("b", &["a"])]), "cycle"),
            (dag(vec![task("a", &["nope"])]), "unknown task"),
            (dag(vec![task("a", &[]), task("a", &[])]), "twice"),
            (dag(vec![task("a/b", &[])]), "must not contain"),
            (dag(vec![task("", &[])]), "1 to 250"),
        ];
        for (d, needle) in cases {
            let err = d.validate().unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
        let mut m = task("m", &[]);
        m.map_over = Some("a".into());
        assert!(
            dag(vec![task("a", &[]), m])
                .validate()
                .unwrap_err()
                .contains("not one of its upstreams")
        );
        let mut m1 = task("m1", &["a"]);
        m1.map_over = Some("a".into());
        let mut m2 = task("m2", &["m1"]);
        m2.map_over = Some("m1".into());
        assert!(
            dag(vec![task("a", &[]), m1, m2])
                .validate()
                .unwrap_err()
                .contains("itself mapped")
        );
        let mut neg = task("n", &[]);
        neg.retry_delay = -1.0;
        assert!(dag(vec![neg]).validate().unwrap_err().contains("negative"));
        let error = |id: &str, up: &[&str]| TaskDefinition {
            error_task: true,
            ..task(id, up)
        };
        for (tasks, says) in [
            (
                vec![task("a", &[]), error("e", &["a"])],
                "error task \"e\" depends on \"a\", which is not an error task",
            ),
            (
                vec![error("e", &[]), task("a", &["e"])],
                "task \"a\" depends on error task \"e\"",
            ),
        ] {
            let err = dag(tasks).validate().unwrap_err();
            assert!(err.contains(says), "{err}");
        }
        assert_eq!(
            dag(vec![task("a", &[]), error("e", &[]), error("f", &["e"])]).validate(),
            Ok(())
        );
        let callback = |event, of: Option<&str>| TaskDefinition {
            callback: Some(CallbackDefinition {
                event,
                of_task: of.map(Into::into),
            }),
            ..task(&callback_task_id(event, of), &[])
        };
        assert_eq!(
            dag(vec![
                task("a", &[]),
                callback(CallbackEvent::Retry, Some("a")),
                callback(CallbackEvent::Failure, None)
            ])
            .validate(),
            Ok(())
        );
        for (tasks, says) in [
            (
                vec![callback(CallbackEvent::Retry, None)],
                "a run has no retries",
            ),
            (
                vec![callback(CallbackEvent::Failure, Some("x"))],
                "unknown task \"x\"",
            ),
            (vec![task("__on_mine", &[])], "kept for callbacks"),
            (
                vec![
                    task("a", &[]),
                    TaskDefinition {
                        task_id: "cb".into(),
                        ..callback(CallbackEvent::Success, Some("a"))
                    },
                ],
                "must be named \"__on_success__:a\"",
            ),
        ] {
            let err = dag(tasks).validate().unwrap_err();
            assert!(err.contains(says), "{err}");
        }
        assert_eq!(
            parse_callback_task_id("__on_retry__:a:b"),
            Some((CallbackEvent::Retry, Some("a:b")))
        );
        assert_eq!(
            parse_callback_task_id("__on_success__"),
            Some((CallbackEvent::Success, None))
        );
        assert_eq!(parse_callback_task_id("__on_x__"), None);
    }
}
