//! A store for one test, and the moves a supervisor makes.

pub use airlock_e2e::Backend;
pub use chrono::{DateTime, TimeDelta, Utc};
pub use serde_json::{Value, json};
pub use uuid::Uuid;

use airlock_e2e::TestDatabase;
use airlock_protocol::api::{TIEnterRunningPayload, TIStatePayload};
use airlock_protocol::dag::BundleDefinition;
use airlock_protocol::state::{DagRunState, DagRunType};
use airlock_scheduler::{PassReport, SchedulerSettings};
use airlock_store::Db;
use airlock_store::dag_runs::NewDagRun;

/// Runs `$body` with a fresh [`Store`] on each backend.
macro_rules! both_backends {
    ($name:ident, |$s:ident| $body:block) => {
        airlock_e2e::on_both_backends!($name, $crate::common::Store::open, |$s| $body);
    };
}
pub(crate) use both_backends;

/// A migrated database for one test.
pub struct Store {
    /// The store.
    pub db: Db,
    /// How passes judge time.
    pub settings: SchedulerSettings,
    /// The moment the test starts at; passes run at offsets from it.
    pub t0: DateTime<Utc>,
    _database: TestDatabase,
}

impl Store {
    /// A store on `backend`; `None` when that backend is not available here.
    pub async fn open(backend: Backend) -> Option<Self> {
        let database = TestDatabase::create(backend).await?;
        let db = Db::connect(database.url(), 8).await.expect("connect");
        db.migrate().await.expect("migrate");
        Some(Self {
            db,
            settings: SchedulerSettings::default(),
            t0: airlock_store::now(),
            _database: database,
        })
    }

    /// The moment `secs` seconds after the start.
    pub fn at(&self, secs: f64) -> DateTime<Utc> {
        self.t0 + TimeDelta::milliseconds((secs * 1000.0) as i64)
    }

    /// Registers DAGs (bundle `b`), as `PUT /control/bundles/b` does.
    pub async fn register(&self, dags: Value) {
        let def: BundleDefinition =
            serde_json::from_value(json!({"bundle": "b", "dags": dags})).expect("bundle");
        airlock_store::control::register_bundle(&self.db, &def, self.t0)
            .await
            .expect("register");
    }

    /// Creates run `run` of `dag`, queued, as a manual trigger does.
    pub async fn trigger(&self, dag: &str, run: &str) {
        let new = NewDagRun {
            dag_id: dag.into(),
            run_id: run.into(),
            logical_date: Some(self.t0),
            run_after: self.t0,
            run_type: DagRunType::Manual,
            state: DagRunState::Queued,
            conf: Some(Default::default()),
            triggering_user_name: None,
            partition_key: None,
            note: None,
            data_interval: None,
            backfill_id: None,
        };
        airlock_store::dag_runs::create_queued_run(&self.db, &new, None, self.t0)
            .await
            .expect("trigger");
    }

    /// One pass at `secs` after the start.
    pub async fn pass(&self, secs: f64) -> PassReport {
        airlock_scheduler::schedule(&self.db, &self.settings, self.at(secs))
            .await
            .expect("pass")
    }

    /// The state and try number of a task instance.
    pub async fn state(&self, run: &str, task: &str, map_index: i64) -> (Option<String>, i64) {
        sqlx::query_as(
            "SELECT state, try_number FROM task_instance \
             WHERE run_id = $1 AND task_id = $2 AND map_index = $3",
        )
        .bind(run)
        .bind(task)
        .bind(map_index)
        .fetch_one(self.db.pool())
        .await
        .unwrap_or_else(|e| panic!("{run}/{task}[{map_index}]: {e}"))
    }

    /// The state of an unmapped task instance.
    pub async fn state_of(&self, run: &str, task: &str) -> Option<String> {
        self.state(run, task, -1).await.0
    }

    /// The id of a task instance.
    pub async fn id(&self, run: &str, task: &str, map_index: i64) -> Uuid {
        let id: String = sqlx::query_scalar(
            "SELECT id FROM task_instance WHERE run_id = $1 AND task_id = $2 AND map_index = $3",
        )
        .bind(run)
        .bind(task)
        .bind(map_index)
        .fetch_one(self.db.pool())
        .await
        .expect("task instance");
        id.parse().expect("uuid")
    }

    /// The state of a run.
    pub async fn run_state(&self, run: &str) -> String {
        sqlx::query_scalar("SELECT state FROM dag_run WHERE run_id = $1")
            .bind(run)
            .fetch_one(self.db.pool())
            .await
            .expect("run")
    }

    /// What executor `e1` claims with `slots` free slots at `secs`: (task id, map index).
    pub async fn claim(&self, slots: u32, secs: f64) -> Vec<(String, i64)> {
        let mut got: Vec<(String, i64)> =
            airlock_store::executors::claim_work(&self.db, "e1", slots, &[], None, self.at(secs))
                .await
                .expect("claim")
                .into_iter()
                .map(|w| (w.task_id, w.map_index))
                .collect();
        got.sort();
        got
    }

    /// Starts a claimed task instance at `secs`, as its supervisor does.
    pub async fn start(&self, run: &str, task: &str, map_index: i64, secs: f64) -> Uuid {
        let id = self.id(run, task, map_index).await;
        let p: TIEnterRunningPayload = serde_json::from_value(json!({"state": "running",
            "hostname": "h", "unixname": "u", "pid": 1,
            "start_date": airlock_protocol::time::to_rfc3339(&self.at(secs))}))
        .expect("payload");
        airlock_store::task_instances::start_task_instance(&self.db, id, &p, self.at(secs))
            .await
            .expect("start");
        id
    }

    /// Reports `payload` (with an `end_date`, unless it defers) for a task instance at `secs`.
    pub async fn report(&self, id: Uuid, mut payload: Value, secs: f64) {
        if payload["state"] != "deferred" {
            payload["end_date"] = json!(airlock_protocol::time::to_rfc3339(&self.at(secs)));
        }
        let p: TIStatePayload = serde_json::from_value(payload).expect("payload");
        airlock_store::task_instances::update_task_instance_state(&self.db, id, &p, self.at(secs))
            .await
            .expect("report");
    }

    /// Claims, starts and finishes a task instance in `state` at `secs`.
    pub async fn run_to(&self, run: &str, task: &str, map_index: i64, state: &str, secs: f64) {
        let id = self.start(run, task, map_index, secs).await;
        self.report(id, json!({"state": state}), secs).await;
    }
}

/// A task definition with upstreams.
pub fn task(id: &str, upstream: &[&str]) -> Value {
    json!({"task_id": id, "upstream": upstream})
}
