//! Unit tests for task functions: call one with a [`Context`] whose XComs, Variables and
//! Connections come from the test, without a supervisor, a server or a database.
//!
//! ```
//! use airlock_sdk::testing::TaskTest;
//! use airlock_sdk::{Context, TaskResult};
//! use serde_json::json;
//!
//! fn double(ctx: &mut Context<'_>) -> TaskResult {
//!     let n: i64 = ctx.xcom_pull("count")?.unwrap_or_default();
//!     Ok(json!(n * 2))
//! }
//!
//! let outcome = TaskTest::new("d", "double").xcom("count", json!(21)).run(double);
//! assert_eq!(outcome.result.ok(), Some(json!(42)));
//! ```
//!
//! The task's requests travel as real frames over a socket pair to a stand-in for the
//! supervisor on another thread (the same codec a supervised try uses), which answers from what
//! the test gave. Requests it cannot answer (assets, DAG runs, ...) get an error answer.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

use airlock_protocol::api::{
    ConnectionResponse, DagRun, JsonObject, TIRunContext, VariableResponse,
};
use airlock_protocol::comms::{
    BundleInfo, DEFAULT_MAX_FRAME_LEN, ErrorResponse, ErrorType, FrameDecoder, ResponseFrame,
    StartupDetails, TaskInstance, ToSupervisor, ToTask, XComResult, decode_request,
    encode_response,
};
use airlock_protocol::state::{DagRunState, DagRunType};
use airlock_task_runner::{SupervisorComms, TaskLogger};
use serde_json::{Value, json};

use crate::context::Context;
use crate::error::TaskResult;

/// What one test call of a task function starts from.
#[derive(Debug, Clone)]
pub struct TaskTest {
    dag_id: String,
    task_id: String,
    run_id: String,
    map_index: i64,
    try_number: i64,
    conf: JsonObject,
    xcoms: BTreeMap<(String, String), Value>,
    variables: BTreeMap<String, String>,
    connections: BTreeMap<String, ConnectionResponse>,
}

/// What the task did.
#[derive(Debug)]
pub struct TaskTestOutcome {
    /// What the function returned.
    pub result: TaskResult,
    /// XComs it pushed, by key.
    pub xcoms: BTreeMap<String, Value>,
    /// Variables after the call (the test's, plus what the task set or deleted).
    pub variables: BTreeMap<String, String>,
    /// Its log lines (JSON, as a supervisor would store them).
    pub log: String,
}

impl TaskTest {
    /// Task `task_id` of DAG `dag_id`, first try, unmapped, in run `test_run`.
    pub fn new(dag_id: impl Into<String>, task_id: impl Into<String>) -> Self {
        Self {
            dag_id: dag_id.into(),
            task_id: task_id.into(),
            run_id: "test_run".into(),
            map_index: -1,
            try_number: 1,
            conf: JsonObject::new(),
            xcoms: BTreeMap::new(),
            variables: BTreeMap::new(),
            connections: BTreeMap::new(),
        }
    }

    /// The run's `conf`.
    pub fn conf(mut self, conf: Value) -> Self {
        if let Value::Object(m) = conf {
            self.conf = m.into_iter().collect();
        }
        self
    }

    /// Which try this is.
    pub fn try_number(mut self, n: i64) -> Self {
        self.try_number = n;
        self
    }

    /// The map index of a mapped task instance.
    pub fn map_index(mut self, i: i64) -> Self {
        self.map_index = i;
        self
    }

    /// The return value of upstream task `task_id`.
    pub fn xcom(self, task_id: &str, value: Value) -> Self {
        self.xcom_key(task_id, crate::RETURN_VALUE, value)
    }

    /// XCom `key` of task `task_id`.
    pub fn xcom_key(mut self, task_id: &str, key: &str, value: Value) -> Self {
        self.xcoms
            .insert((task_id.to_owned(), key.to_owned()), value);
        self
    }

    /// A Variable.
    pub fn variable(mut self, key: &str, value: &str) -> Self {
        self.variables.insert(key.to_owned(), value.to_owned());
        self
    }

    /// A Connection.
    pub fn connection(mut self, c: ConnectionResponse) -> Self {
        self.connections.insert(c.conn_id.clone(), c);
        self
    }

    /// Calls `f` as the task, mapped over `map_source`'s list when it is given.
    pub fn run(self, f: impl FnOnce(&mut Context<'_>) -> TaskResult) -> TaskTestOutcome {
        self.run_mapped(None, f)
    }

    /// Calls `f` as a mapped task over the list upstream `map_source` returned (give that list
    /// with [`xcom`](Self::xcom) and the index with [`map_index`](Self::map_index)).
    pub fn run_mapped(
        self,
        map_source: Option<&str>,
        f: impl FnOnce(&mut Context<'_>) -> TaskResult,
    ) -> TaskTestOutcome {
        let startup = self.startup();
        let (task_end, supervisor_end) = match UnixStream::pair() {
            Ok(pair) => pair,
            Err(e) => return self.broken(format!("cannot make a socket pair: {e}")),
        };
        let state = Arc::new(Mutex::new(Answers {
            xcoms: self.xcoms.clone(),
            pushed: BTreeMap::new(),
            variables: self.variables.clone(),
            connections: self.connections.clone(),
            task_id: self.task_id.clone(),
        }));
        let server = {
            let state = Arc::clone(&state);
            std::thread::spawn(move || serve(supervisor_end, &state))
        };
        let log = Arc::new(Mutex::new(Vec::<u8>::new()));
        let logger = TaskLogger::new(Box::new(SharedBuf(Arc::clone(&log))));
        let mut comms = SupervisorComms::new(task_end);
        let result = {
            let mut ctx = Context::new(&mut comms, &logger, &startup, map_source);
            f(&mut ctx)
        };
        // Closing the task's end ends the stand-in's loop.
        drop(comms);
        let _ = server.join();
        let answers = std::mem::take(&mut *lock(&state));
        let log = String::from_utf8_lossy(&lock(&log)).into_owned();
        TaskTestOutcome {
            result,
            xcoms: answers.pushed,
            variables: answers.variables,
            log,
        }
    }

    fn broken(&self, why: String) -> TaskTestOutcome {
        TaskTestOutcome {
            result: Err(crate::TaskError::fail(why)),
            xcoms: BTreeMap::new(),
            variables: self.variables.clone(),
            log: String::new(),
        }
    }

    fn startup(&self) -> StartupDetails {
        let now = chrono::Utc::now();
        let dag_run = DagRun {
            dag_id: self.dag_id.clone(),
            run_id: self.run_id.clone(),
            logical_date: Some(now),
            data_interval_start: Some(now),
            data_interval_end: Some(now),
            run_after: now,
            start_date: Some(now),
            end_date: None,
            clear_number: 0,
            run_type: DagRunType::Manual,
            state: DagRunState::Running,
            conf: Some(self.conf.clone()),
            triggering_user_name: Some("test".into()),
            consumed_asset_events: vec![],
            partition_key: None,
            partition_date: None,
            note: None,
            team_name: None,
        };
        StartupDetails {
            ti: TaskInstance {
                id: uuid_v7(),
                task_id: self.task_id.clone(),
                dag_id: self.dag_id.clone(),
                run_id: self.run_id.clone(),
                try_number: self.try_number,
                dag_version_id: uuid_v7(),
                map_index: self.map_index,
                hostname: None,
                context_carrier: None,
                queue: "default".into(),
            },
            dag_rel_path: String::new(),
            bundle_info: BundleInfo {
                name: "test".into(),
                version: None,
            },
            start_date: now,
            ti_context: TIRunContext {
                dag_run,
                task_reschedule_count: 0,
                max_tries: self.try_number,
                variables: vec![],
                connections: vec![],
                next_method: None,
                next_kwargs: None,
                xcom_keys_to_clear: vec![],
                should_retry: false,
                start_date: Some(now),
            },
            sentry_integration: String::new(),
        }
    }
}

fn uuid_v7() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A log sink the test reads afterwards.
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What the stand-in answers from, and what the task changed.
#[derive(Default)]
struct Answers {
    xcoms: BTreeMap<(String, String), Value>,
    pushed: BTreeMap<String, Value>,
    variables: BTreeMap<String, String>,
    connections: BTreeMap<String, ConnectionResponse>,
    task_id: String,
}

impl Answers {
    fn answer(&mut self, msg: ToSupervisor) -> (Option<ToTask>, Option<ErrorResponse>) {
        let none = (None, None);
        match msg {
            ToSupervisor::GetXCom(m) => {
                let value = if m.task_id == self.task_id {
                    self.pushed.get(&m.key).cloned()
                } else {
                    self.xcoms.get(&(m.task_id, m.key.clone())).cloned()
                };
                let value = value.unwrap_or(Value::Null);
                (
                    Some(ToTask::XComResult(XComResult { key: m.key, value })),
                    None,
                )
            }
            ToSupervisor::SetXCom(m) => {
                self.pushed.insert(m.key, m.value);
                none
            }
            ToSupervisor::DeleteXCom(m) => {
                self.pushed.remove(&m.key);
                none
            }
            ToSupervisor::GetVariable(m) => match self.variables.get(&m.key) {
                Some(v) => (
                    Some(ToTask::VariableResult(VariableResponse {
                        key: m.key,
                        value: Some(v.clone()),
                    })),
                    None,
                ),
                None => (
                    Some(ToTask::ErrorResponse(ErrorResponse::new(
                        ErrorType::VariableNotFound,
                        json!({"key": m.key}),
                    ))),
                    None,
                ),
            },
            ToSupervisor::PutVariable(m) => {
                match m.value {
                    Some(v) => self.variables.insert(m.key, v),
                    None => self.variables.remove(&m.key),
                };
                none
            }
            ToSupervisor::DeleteVariable(m) => {
                self.variables.remove(&m.key);
                none
            }
            ToSupervisor::GetConnection(m) => match self.connections.get(&m.conn_id) {
                Some(c) => (Some(ToTask::ConnectionResult(c.clone())), None),
                None => (
                    Some(ToTask::ErrorResponse(ErrorResponse::new(
                        ErrorType::ConnectionNotFound,
                        json!({"conn_id": m.conn_id}),
                    ))),
                    None,
                ),
            },
            ToSupervisor::MaskSecret(_) => none,
            other => (
                None,
                Some(ErrorResponse::new(
                    ErrorType::GenericError,
                    json!({"message": format!(
                        "{} is not available in a task test", other.type_name()
                    )}),
                )),
            ),
        }
    }
}

/// The stand-in for the supervisor: answers each request frame until the task's end closes.
fn serve(mut stream: UnixStream, state: &Mutex<Answers>) {
    let mut frames = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let payload = match frames.next_frame() {
            Ok(Some(p)) => p,
            Ok(None) => match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    frames.extend(&chunk[..n]);
                    continue;
                }
            },
            Err(_) => return,
        };
        let Ok(req) = decode_request(&payload) else {
            return;
        };
        let (body, error) = match req.body {
            Ok(Some(msg)) => lock(state).answer(msg),
            Ok(None) => (None, None),
            Err(e) => (
                None,
                Some(ErrorResponse::new(
                    ErrorType::GenericError,
                    json!({"message": e.to_string()}),
                )),
            ),
        };
        let frame = ResponseFrame {
            id: req.id,
            body,
            error,
        };
        let Ok(bytes) = encode_response(&frame) else {
            return;
        };
        if stream.write_all(&bytes).is_err() {
            return;
        }
    }
}
