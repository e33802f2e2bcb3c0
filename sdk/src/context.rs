//! What a running task can see and do.

use airlock_protocol::api::{ConnectionResponse, DagRun, JsonObject};
use airlock_protocol::comms::*;
use airlock_task_runner::{SupervisorComms, TaskLogger};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::TaskError;

/// The key of a task's return value.
pub const RETURN_VALUE: &str = "return_value";

/// The running task's view of the world. Every call goes through the supervisor.
pub struct Context<'a> {
    comms: &'a mut SupervisorComms,
    log: &'a TaskLogger,
    startup: &'a StartupDetails,
    map_source: Option<&'a str>,
}

fn decode<T: DeserializeOwned>(what: &str, v: Value) -> Result<T, TaskError> {
    serde_json::from_value(v)
        .map_err(|e| TaskError::fail(format!("{what} has an unexpected shape: {e}")))
}

fn unexpected(what: &str, got: Option<ToTask>) -> TaskError {
    TaskError::fail(format!(
        "unexpected answer to {what}: {}",
        got.map_or_else(|| "nothing".to_owned(), |b| b.type_name().to_owned())
    ))
}

impl<'a> Context<'a> {
    pub(crate) fn new(
        comms: &'a mut SupervisorComms,
        log: &'a TaskLogger,
        startup: &'a StartupDetails,
        map_source: Option<&'a str>,
    ) -> Self {
        Self {
            comms,
            log,
            startup,
            map_source,
        }
    }

    /// The task instance.
    pub fn ti(&self) -> &TaskInstance {
        &self.startup.ti
    }

    /// The DAG run.
    pub fn dag_run(&self) -> &DagRun {
        &self.startup.ti_context.dag_run
    }

    /// The run's logical date: the start of its data interval for a scheduled run.
    pub fn logical_date(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.dag_run().logical_date
    }

    /// The run's data interval `[start, end)` (the period a scheduled run processes).
    pub fn data_interval(
        &self,
    ) -> Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> {
        let run = self.dag_run();
        run.data_interval_start.zip(run.data_interval_end)
    }

    /// How the run came to be (`scheduled`, `manual`, `backfill`, ...).
    pub fn run_type(&self) -> airlock_protocol::state::DagRunType {
        self.dag_run().run_type
    }

    /// The run's configuration (`--conf`).
    pub fn conf(&self) -> JsonObject {
        self.dag_run().conf.clone().unwrap_or_default()
    }

    /// The task's log.
    pub fn log(&self) -> &TaskLogger {
        self.log
    }

    /// In a callback: what it was called for (`None` in an ordinary task).
    pub fn callback(&self) -> Option<Callback> {
        let (event, of) = airlock_protocol::dag::parse_callback_task_id(&self.startup.ti.task_id)?;
        Some(Callback {
            event,
            of_task: of.map(str::to_owned),
            // A task callback's map index is the try it follows.
            try_number: of.is_some().then_some(self.startup.ti.map_index),
        })
    }

    /// This instance's map index (−1 when the task is not mapped).
    pub fn map_index(&self) -> i64 {
        self.startup.ti.map_index
    }

    /// Which try this is (1 for the first).
    pub fn try_number(&self) -> i64 {
        self.startup.ti.try_number
    }

    /// The W3C `traceparent` of this try's span when the supervisor traces tries (OpenTelemetry):
    /// spans task code starts with it as their parent nest under the try.
    pub fn traceparent(&self) -> Option<&str> {
        self.startup
            .ti
            .context_carrier
            .as_ref()?
            .get("traceparent")?
            .as_str()
    }

    /// Sends any request to the supervisor (for messages the helpers below do not cover).
    pub fn request(&mut self, msg: impl Into<ToSupervisor>) -> Result<Option<ToTask>, TaskError> {
        Ok(self.comms.request(msg)?)
    }

    /// Publishes `value` under `key` for downstream tasks.
    pub fn xcom_push<T: Serialize + ?Sized>(
        &mut self,
        key: &str,
        value: &T,
    ) -> Result<(), TaskError> {
        let value = serde_json::to_value(value)
            .map_err(|e| TaskError::fail(format!("XCom {key:?} is not JSON: {e}")))?;
        let ti = &self.startup.ti;
        let msg = SetXCom {
            key: key.to_owned(),
            value,
            dag_id: ti.dag_id.clone(),
            run_id: ti.run_id.clone(),
            task_id: ti.task_id.clone(),
            map_index: (ti.map_index >= 0).then_some(ti.map_index),
            dag_result: false,
            mapped_length: None,
        };
        self.comms.request(ToSupervisor::SetXCom(msg))?;
        Ok(())
    }

    /// Reads XCom `key` of `task_id` (unmapped) in this run; `None` if it does not exist.
    pub fn xcom_pull_key<T: DeserializeOwned>(
        &mut self,
        task_id: &str,
        key: &str,
    ) -> Result<Option<T>, TaskError> {
        let ti = &self.startup.ti;
        let msg = GetXCom {
            key: key.to_owned(),
            dag_id: ti.dag_id.clone(),
            run_id: ti.run_id.clone(),
            task_id: task_id.to_owned(),
            map_index: None,
            include_prior_dates: false,
        };
        match self.comms.request(ToSupervisor::GetXCom(msg))? {
            Some(ToTask::XComResult(r)) if r.value.is_null() => Ok(None),
            Some(ToTask::XComResult(r)) => {
                decode(&format!("XCom {key:?} of {task_id:?}"), r.value).map(Some)
            }
            other => Err(unexpected("GetXCom", other)),
        }
    }

    /// Reads the return value of `task_id` in this run.
    pub fn xcom_pull<T: DeserializeOwned>(
        &mut self,
        task_id: &str,
    ) -> Result<Option<T>, TaskError> {
        self.xcom_pull_key(task_id, RETURN_VALUE)
    }

    /// Reads the return values of every mapped instance of `task_id`, in map-index order.
    pub fn xcom_pull_mapped<T: DeserializeOwned>(
        &mut self,
        task_id: &str,
    ) -> Result<Vec<T>, TaskError> {
        let ti = &self.startup.ti;
        let msg = GetXComSequenceSlice {
            key: RETURN_VALUE.into(),
            dag_id: ti.dag_id.clone(),
            run_id: ti.run_id.clone(),
            task_id: task_id.to_owned(),
            start: None,
            stop: None,
            step: None,
            include_prior_dates: false,
        };
        match self
            .comms
            .request(ToSupervisor::GetXComSequenceSlice(msg))?
        {
            Some(ToTask::XComSequenceSliceResult(r)) => r
                .root
                .into_iter()
                .map(|v| decode(&format!("a result of {task_id:?}"), v))
                .collect(),
            other => Err(unexpected("GetXComSequenceSlice", other)),
        }
    }

    /// For a mapped task: the element of the upstream list this instance processes.
    pub fn mapped_item<T: DeserializeOwned>(&mut self) -> Result<T, TaskError> {
        let source = self
            .map_source
            .ok_or_else(|| {
                TaskError::fail_no_retry("mapped_item() called in a task that is not mapped")
            })?
            .to_owned();
        let index = self.map_index();
        let list: Vec<Value> = self
            .xcom_pull(&source)?
            .ok_or_else(|| TaskError::fail(format!("{source:?} returned nothing to map over")))?;
        let item = usize::try_from(index)
            .ok()
            .and_then(|i| list.into_iter().nth(i))
            .ok_or_else(|| TaskError::fail(format!("{source:?} has no element {index}")))?;
        decode(&format!("element {index} of {source:?}"), item)
    }

    /// Reads a Variable; `None` if it does not exist.
    pub fn variable(&mut self, key: &str) -> Result<Option<String>, TaskError> {
        match self.comms.request(ToSupervisor::GetVariable(GetVariable {
            key: key.to_owned(),
        }))? {
            Some(ToTask::VariableResult(v)) => Ok(v.value),
            Some(ToTask::ErrorResponse(e)) if e.error == ErrorType::VariableNotFound => Ok(None),
            Some(ToTask::ErrorResponse(e)) => {
                Err(TaskError::fail(format!("Variable {key:?}: {e}")))
            }
            other => Err(unexpected("GetVariable", other)),
        }
    }

    /// Writes a Variable.
    pub fn set_variable(&mut self, key: &str, value: &str) -> Result<(), TaskError> {
        let msg = PutVariable {
            key: key.to_owned(),
            value: Some(value.to_owned()),
            description: None,
        };
        self.comms.request(ToSupervisor::PutVariable(msg))?;
        Ok(())
    }

    /// Reads a Connection; `None` if it does not exist.
    pub fn connection(&mut self, conn_id: &str) -> Result<Option<ConnectionResponse>, TaskError> {
        match self
            .comms
            .request(ToSupervisor::GetConnection(GetConnection {
                conn_id: conn_id.to_owned(),
            }))? {
            Some(ToTask::ConnectionResult(c)) => Ok(Some(c)),
            Some(ToTask::ErrorResponse(e)) if e.error == ErrorType::ConnectionNotFound => Ok(None),
            Some(ToTask::ErrorResponse(e)) => {
                Err(TaskError::fail(format!("Connection {conn_id:?}: {e}")))
            }
            other => Err(unexpected("GetConnection", other)),
        }
    }

    /// Asks the supervisor to redact `secret` from the task's logs.
    pub fn mask_secret(&mut self, secret: &str) -> Result<(), TaskError> {
        self.comms.request(ToSupervisor::MaskSecret(MaskSecret {
            value: Value::String(secret.to_owned()),
            name: None,
        }))?;
        Ok(())
    }
}

/// What a callback was called for (see [`Context::callback`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// The event.
    pub event: airlock_protocol::dag::CallbackEvent,
    /// The task it follows; `None`: the run.
    pub of_task: Option<String>,
    /// The try of that task it follows.
    pub try_number: Option<i64>,
}
