//! One method per control-API route (tag "Airlock Control"; `admin`-scope tokens).

use airlock_protocol::api::{
    BackfillRequest, BackfillResponse, BundleRegistered, DagList, DagPatch, ExecutorEvent,
    ExecutorEventResponse, ExecutorRegistration, RunDetails, TaskLogChunk, TickRequest,
    TickResponse, TriggerRunRequest,
};
use airlock_protocol::dag::BundleDefinition;
use reqwest::Method;

use crate::ClientError;
use crate::client::{ApiClient, seg};

type R<T> = Result<T, ClientError>;

const NO_BODY: Option<&'static ()> = None;

fn executor_path(id: &str) -> String {
    format!("/airlock/control/executors/{}", seg(id))
}

impl ApiClient {
    /// `GET /airlock/control/dags`.
    pub async fn list_dags(&self) -> R<DagList> {
        self.json(Method::GET, "/airlock/control/dags", &[], NO_BODY)
            .await
    }

    /// `PUT /airlock/control/bundles/{bundle}`.
    pub async fn register_bundle(&self, def: &BundleDefinition) -> R<BundleRegistered> {
        let path = format!("/airlock/control/bundles/{}", seg(&def.bundle));
        self.json(Method::PUT, &path, &[], Some(def)).await
    }

    /// `PATCH /airlock/control/dags/{dag_id}`.
    pub async fn set_dag_paused(&self, dag_id: &str, is_paused: bool) -> R<()> {
        let path = format!("/airlock/control/dags/{}", seg(dag_id));
        self.call(Method::PATCH, &path, &[], Some(&DagPatch { is_paused }))
            .await
            .map(drop)
    }

    /// `POST /airlock/control/dags/{dag_id}/runs`.
    pub async fn trigger_run(&self, dag_id: &str, req: &TriggerRunRequest) -> R<RunDetails> {
        let path = format!("/airlock/control/dags/{}/runs", seg(dag_id));
        self.json(Method::POST, &path, &[], Some(req)).await
    }

    /// `POST /airlock/control/dags/{dag_id}/backfills`.
    pub async fn backfill(&self, dag_id: &str, req: &BackfillRequest) -> R<BackfillResponse> {
        let path = format!("/airlock/control/dags/{}/backfills", seg(dag_id));
        self.json(Method::POST, &path, &[], Some(req)).await
    }

    /// `GET /airlock/control/dags/{dag_id}/runs/{run_id}`.
    pub async fn run_details(&self, dag_id: &str, run_id: &str) -> R<RunDetails> {
        let path = format!("/airlock/control/dags/{}/runs/{}", seg(dag_id), seg(run_id));
        self.json(Method::GET, &path, &[], NO_BODY).await
    }

    /// `GET .../tasks/{task_id}/logs`: the log of a try from `offset` (the latest try if
    /// `try_number` is `None`).
    pub async fn task_log(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        map_index: i64,
        try_number: Option<i64>,
        offset: u64,
    ) -> R<TaskLogChunk> {
        let path = format!(
            "/airlock/control/dags/{}/runs/{}/tasks/{}/logs",
            seg(dag_id),
            seg(run_id),
            seg(task_id)
        );
        let mut q = vec![
            ("map_index", map_index.to_string()),
            ("offset", offset.to_string()),
        ];
        if let Some(t) = try_number {
            q.push(("try_number", t.to_string()));
        }
        self.json(Method::GET, &path, &q, NO_BODY).await
    }

    /// `PUT /airlock/control/executors/{id}`.
    pub async fn register_executor(&self, id: &str, r: &ExecutorRegistration) -> R<()> {
        self.call(Method::PUT, &executor_path(id), &[], Some(r))
            .await
            .map(drop)
    }

    /// `DELETE /airlock/control/executors/{id}`.
    pub async fn retire_executor(&self, id: &str) -> R<()> {
        self.call(Method::DELETE, &executor_path(id), &[], NO_BODY)
            .await
            .map(drop)
    }

    /// `POST /airlock/control/executors/{id}/tick` (a long poll of up to `req.wait_ms`).
    pub async fn tick(&self, id: &str, req: &TickRequest) -> R<TickResponse> {
        let path = format!("{}/tick", executor_path(id));
        self.json(Method::POST, &path, &[], Some(req)).await
    }

    /// `POST /airlock/control/executors/{id}/events`.
    pub async fn executor_event(&self, id: &str, e: &ExecutorEvent) -> R<ExecutorEventResponse> {
        let path = format!("{}/events", executor_path(id));
        self.json(Method::POST, &path, &[], Some(e)).await
    }
}
