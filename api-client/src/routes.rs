//! One method per Execution API route the runtime uses.

use airlock_protocol::api::*;
use airlock_protocol::state::{DagRunState, TaskInstanceState};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::ClientError;
use crate::client::{ApiClient, seg};

const NO_BODY: Option<&'static ()> = None;

type R<T> = Result<T, ClientError>;

use airlock_protocol::time::{Timestamp, to_rfc3339};

fn push_list(q: &mut Vec<(&'static str, String)>, key: &'static str, values: &Option<Vec<String>>) {
    for v in values.iter().flatten() {
        q.push((key, v.clone()));
    }
}

/// Filters shared by the task-instance count and states queries.
#[derive(Debug, Clone, Default)]
pub struct TiQuery {
    /// DAG id.
    pub dag_id: String,
    /// Map index.
    pub map_index: Option<i64>,
    /// Task ids.
    pub task_ids: Option<Vec<String>>,
    /// Task group.
    pub task_group_id: Option<String>,
    /// Logical dates.
    pub logical_dates: Option<Vec<Timestamp>>,
    /// Run ids.
    pub run_ids: Option<Vec<String>>,
    /// States (count only).
    pub states: Option<Vec<String>>,
}

impl TiQuery {
    fn params(&self) -> Vec<(&'static str, String)> {
        let mut q = vec![("dag_id", self.dag_id.clone())];
        if let Some(mi) = self.map_index.filter(|m| *m >= 0) {
            q.push(("map_index", mi.to_string()));
        }
        push_list(&mut q, "task_ids", &self.task_ids);
        if let Some(g) = &self.task_group_id {
            q.push(("task_group_id", g.clone()));
        }
        for d in self.logical_dates.iter().flatten() {
            q.push(("logical_dates", to_rfc3339(d)));
        }
        push_list(&mut q, "run_ids", &self.run_ids);
        push_list(&mut q, "states", &self.states);
        q
    }
}

fn xcom_path(dag_id: &str, run_id: &str, task_id: &str, key: &str) -> String {
    format!(
        "/xcoms/{}/{}/{}/{}",
        seg(dag_id),
        seg(run_id),
        seg(task_id),
        seg(key)
    )
}

fn map_index_param(map_index: Option<i64>) -> Vec<(&'static str, String)> {
    map_index
        .filter(|m| *m >= 0)
        .map(|m| vec![("map_index", m.to_string())])
        .unwrap_or_default()
}

impl ApiClient {
    /// `GET /airlock/task-instances/{id}` (workload tokens allowed).
    pub async fn task_instance_details(&self, id: Uuid) -> R<TaskInstanceDetails> {
        self.json(
            Method::GET,
            &format!("/airlock/task-instances/{id}"),
            &[],
            NO_BODY,
        )
        .await
    }

    /// `POST /airlock/task-instances/{id}/logs`: a piece of the try's log.
    pub async fn ship_log(&self, id: Uuid, piece: &TaskLogPiece) -> R<()> {
        self.call(
            Method::POST,
            &format!("/airlock/task-instances/{id}/logs"),
            &[],
            Some(piece),
        )
        .await
        .map(drop)
    }

    /// `PATCH /task-instances/{id}/run`.
    pub async fn start(&self, id: Uuid, p: &TIEnterRunningPayload) -> R<TIRunContext> {
        self.json(
            Method::PATCH,
            &format!("/task-instances/{id}/run"),
            &[],
            Some(p),
        )
        .await
    }

    /// `PATCH /task-instances/{id}/state`.
    pub async fn update_state(&self, id: Uuid, p: &TIStatePayload) -> R<()> {
        self.call(
            Method::PATCH,
            &format!("/task-instances/{id}/state"),
            &[],
            Some(p),
        )
        .await
        .map(drop)
    }

    /// `PUT /task-instances/{id}/heartbeat`.
    pub async fn heartbeat(&self, id: Uuid, p: &TIHeartbeatInfo) -> R<()> {
        self.call(
            Method::PUT,
            &format!("/task-instances/{id}/heartbeat"),
            &[],
            Some(p),
        )
        .await
        .map(drop)
    }

    /// `PATCH /task-instances/{id}/skip-downstream`.
    pub async fn skip_downstream(
        &self,
        id: Uuid,
        p: &TISkippedDownstreamTasksStatePayload,
    ) -> R<()> {
        self.call(
            Method::PATCH,
            &format!("/task-instances/{id}/skip-downstream"),
            &[],
            Some(p),
        )
        .await
        .map(drop)
    }

    /// `PUT /task-instances/{id}/rtif`.
    pub async fn set_rtif(&self, id: Uuid, fields: &JsonObject) -> R<()> {
        self.call(
            Method::PUT,
            &format!("/task-instances/{id}/rtif"),
            &[],
            Some(fields),
        )
        .await
        .map(drop)
    }

    /// `PATCH /task-instances/{id}/rendered-map-index`.
    pub async fn set_rendered_map_index(&self, id: Uuid, value: &str) -> R<()> {
        self.call(
            Method::PATCH,
            &format!("/task-instances/{id}/rendered-map-index"),
            &[],
            Some(value),
        )
        .await
        .map(drop)
    }

    /// `GET /task-instances/{id}/previous-successful-dagrun`.
    pub async fn previous_successful_dag_run(&self, id: Uuid) -> R<PrevSuccessfulDagRunResponse> {
        self.json(
            Method::GET,
            &format!("/task-instances/{id}/previous-successful-dagrun"),
            &[],
            NO_BODY,
        )
        .await
    }

    /// `GET /task-instances/{id}/validate-inlets-and-outlets`.
    pub async fn validate_inlets_and_outlets(&self, id: Uuid) -> R<InactiveAssetsResponse> {
        self.json(
            Method::GET,
            &format!("/task-instances/{id}/validate-inlets-and-outlets"),
            &[],
            NO_BODY,
        )
        .await
    }

    /// `GET /task-reschedules/{id}/start_date`.
    pub async fn reschedule_start_date(&self, id: Uuid, try_number: i64) -> R<Option<String>> {
        self.json(
            Method::GET,
            &format!("/task-reschedules/{id}/start_date"),
            &[("try_number", try_number.to_string())],
            NO_BODY,
        )
        .await
    }

    /// `GET /task-instances/count`.
    pub async fn ti_count(&self, q: &TiQuery) -> R<i64> {
        self.json(Method::GET, "/task-instances/count", &q.params(), NO_BODY)
            .await
    }

    /// `GET /task-instances/states`.
    pub async fn ti_states(&self, q: &TiQuery) -> R<TaskStatesResponse> {
        let mut params = q.params();
        params.retain(|(k, _)| *k != "states");
        self.json(Method::GET, "/task-instances/states", &params, NO_BODY)
            .await
    }

    /// `GET /task-instances/previous/{dag_id}/{task_id}`.
    pub async fn previous_ti(
        &self,
        dag_id: &str,
        task_id: &str,
        logical_date: Option<Timestamp>,
        map_index: i64,
        state: Option<TaskInstanceState>,
    ) -> R<Option<PreviousTIResponse>> {
        let mut q = vec![("map_index", map_index.to_string())];
        if let Some(d) = logical_date {
            q.push(("logical_date", to_rfc3339(&d)));
        }
        if let Some(s) = state {
            q.push(("state", s.as_str().into()));
        }
        let path = format!("/task-instances/previous/{}/{}", seg(dag_id), seg(task_id));
        self.json(Method::GET, &path, &q, NO_BODY).await
    }

    /// `GET /task-instances/breadcrumbs`.
    pub async fn breadcrumbs(&self, dag_id: &str, run_id: &str) -> R<TaskBreadcrumbsResponse> {
        let q = [("dag_id", dag_id.to_owned()), ("run_id", run_id.to_owned())];
        self.json(Method::GET, "/task-instances/breadcrumbs", &q, NO_BODY)
            .await
    }

    /// `GET /xcoms/...`; `Ok(None)` when there is no such value.
    pub async fn get_xcom(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        key: &str,
        map_index: Option<i64>,
        include_prior_dates: bool,
    ) -> R<Option<XComResponse>> {
        let mut q = map_index_param(map_index);
        if include_prior_dates {
            q.push(("include_prior_dates", "true".into()));
        }
        match self
            .json(
                Method::GET,
                &xcom_path(dag_id, run_id, task_id, key),
                &q,
                NO_BODY,
            )
            .await
        {
            Err(e) if e.status() == Some(404) => Ok(None),
            other => other.map(Some),
        }
    }

    /// `HEAD /xcoms/...`: the number of mapped values.
    pub async fn count_xcom(&self, dag_id: &str, run_id: &str, task_id: &str, key: &str) -> R<i64> {
        let path = xcom_path(dag_id, run_id, task_id, key);
        let answer = self.send(Method::HEAD, &path, &[], None).await?;
        answer
            .headers
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("map_indexes "))
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| ClientError::Decode {
                path,
                message: "no Content-Range: map_indexes <n>".into(),
            })
    }

    /// `GET /xcoms/.../item/{offset}`; `Ok(None)` when out of range.
    pub async fn get_xcom_item(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        key: &str,
        offset: i64,
    ) -> R<Option<Value>> {
        let path = format!("{}/item/{offset}", xcom_path(dag_id, run_id, task_id, key));
        match self.json(Method::GET, &path, &[], NO_BODY).await {
            Err(e) if e.status() == Some(404) => Ok(None),
            other => other.map(Some),
        }
    }

    /// `GET /xcoms/.../slice`.
    #[allow(clippy::too_many_arguments)]
    pub async fn get_xcom_slice(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        key: &str,
        start: Option<i64>,
        stop: Option<i64>,
        step: Option<i64>,
        include_prior_dates: bool,
    ) -> R<Vec<Value>> {
        let mut q = Vec::new();
        for (k, v) in [("start", start), ("stop", stop), ("step", step)] {
            if let Some(v) = v {
                q.push((k, v.to_string()));
            }
        }
        if include_prior_dates {
            q.push(("include_prior_dates", "true".into()));
        }
        let path = format!("{}/slice", xcom_path(dag_id, run_id, task_id, key));
        self.json(Method::GET, &path, &q, NO_BODY).await
    }

    /// `POST /xcoms/...`.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_xcom(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        key: &str,
        value: &Value,
        map_index: Option<i64>,
        dag_result: bool,
        mapped_length: Option<i64>,
    ) -> R<()> {
        let mut q = map_index_param(map_index);
        if dag_result {
            q.push(("dag_result", "true".into()));
        }
        if let Some(n) = mapped_length.filter(|n| *n >= 0) {
            q.push(("mapped_length", n.to_string()));
        }
        self.call(
            Method::POST,
            &xcom_path(dag_id, run_id, task_id, key),
            &q,
            Some(value),
        )
        .await
        .map(drop)
    }

    /// `DELETE /xcoms/...`.
    pub async fn delete_xcom(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        key: &str,
        map_index: Option<i64>,
    ) -> R<()> {
        let q = map_index_param(map_index);
        self.call(
            Method::DELETE,
            &xcom_path(dag_id, run_id, task_id, key),
            &q,
            NO_BODY,
        )
        .await
        .map(drop)
    }

    /// `GET /variables/{key}`; `Ok(None)` when there is no such Variable.
    pub async fn get_variable(&self, key: &str) -> R<Option<VariableResponse>> {
        match self
            .json(
                Method::GET,
                &format!("/variables/{}", seg(key)),
                &[],
                NO_BODY,
            )
            .await
        {
            Err(e) if e.status() == Some(404) => Ok(None),
            other => other.map(Some),
        }
    }

    /// `GET /variables/keys`.
    pub async fn variable_keys(
        &self,
        prefix: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> R<VariableKeysResponse> {
        let mut q = vec![("limit", limit.to_string()), ("offset", offset.to_string())];
        if let Some(p) = prefix {
            q.push(("prefix", p.to_owned()));
        }
        self.json(Method::GET, "/variables/keys", &q, NO_BODY).await
    }

    /// `PUT /variables/{key}`.
    pub async fn put_variable(
        &self,
        key: &str,
        value: Option<&str>,
        description: Option<&str>,
    ) -> R<()> {
        let body = json!({"val": value, "description": description});
        self.call(
            Method::PUT,
            &format!("/variables/{}", seg(key)),
            &[],
            Some(&body),
        )
        .await
        .map(drop)
    }

    /// `DELETE /variables/{key}`.
    pub async fn delete_variable(&self, key: &str) -> R<()> {
        self.call(
            Method::DELETE,
            &format!("/variables/{}", seg(key)),
            &[],
            NO_BODY,
        )
        .await
        .map(drop)
    }

    /// `GET /connections/{id}`; `Ok(None)` when there is no such Connection.
    pub async fn get_connection(&self, conn_id: &str) -> R<Option<ConnectionResponse>> {
        match self
            .json(
                Method::GET,
                &format!("/connections/{}", seg(conn_id)),
                &[],
                NO_BODY,
            )
            .await
        {
            Err(e) if e.status() == Some(404) => Ok(None),
            other => other.map(Some),
        }
    }

    /// `GET /dag-runs/{dag_id}/{run_id}`.
    pub async fn get_dag_run(&self, dag_id: &str, run_id: &str) -> R<DagRun> {
        self.json(
            Method::GET,
            &format!("/dag-runs/{}/{}", seg(dag_id), seg(run_id)),
            &[],
            NO_BODY,
        )
        .await
    }

    /// `GET /dag-runs/{dag_id}/{run_id}/state`.
    pub async fn dag_run_state(&self, dag_id: &str, run_id: &str) -> R<DagRunState> {
        let r: DagRunStateResponse = self
            .json(
                Method::GET,
                &format!("/dag-runs/{}/{}/state", seg(dag_id), seg(run_id)),
                &[],
                NO_BODY,
            )
            .await?;
        Ok(r.state)
    }

    /// `GET /dag-runs/count`.
    pub async fn dag_run_count(
        &self,
        dag_id: &str,
        logical_dates: Option<Vec<Timestamp>>,
        run_ids: Option<Vec<String>>,
        states: Option<Vec<String>>,
    ) -> R<i64> {
        let mut q = vec![("dag_id", dag_id.to_owned())];
        for d in logical_dates.iter().flatten() {
            q.push(("logical_dates", to_rfc3339(d)));
        }
        push_list(&mut q, "run_ids", &run_ids);
        push_list(&mut q, "states", &states);
        self.json(Method::GET, "/dag-runs/count", &q, NO_BODY).await
    }

    /// `GET /dag-runs/previous`.
    pub async fn previous_dag_run(
        &self,
        dag_id: &str,
        logical_date: Timestamp,
        state: Option<&str>,
    ) -> R<Option<DagRun>> {
        let mut q = vec![
            ("dag_id", dag_id.to_owned()),
            ("logical_date", to_rfc3339(&logical_date)),
        ];
        if let Some(s) = state {
            q.push(("state", s.to_owned()));
        }
        self.json(Method::GET, "/dag-runs/previous", &q, NO_BODY)
            .await
    }

    /// `POST /dag-runs/{dag_id}/{run_id}`.
    pub async fn trigger_dag_run(
        &self,
        dag_id: &str,
        run_id: &str,
        p: &TriggerDAGRunPayload,
    ) -> R<()> {
        self.call(
            Method::POST,
            &format!("/dag-runs/{}/{}", seg(dag_id), seg(run_id)),
            &[],
            Some(p),
        )
        .await
        .map(drop)
    }

    /// `POST /dag-runs/{dag_id}/{run_id}/clear`.
    pub async fn clear_dag_run(&self, dag_id: &str, run_id: &str) -> R<()> {
        self.call(
            Method::POST,
            &format!("/dag-runs/{}/{}/clear", seg(dag_id), seg(run_id)),
            &[],
            NO_BODY,
        )
        .await
        .map(drop)
    }

    /// `GET /dags/{dag_id}`.
    pub async fn get_dag(&self, dag_id: &str) -> R<DagResponse> {
        self.json(Method::GET, &format!("/dags/{}", seg(dag_id)), &[], NO_BODY)
            .await
    }

    /// `GET /assets/by-name` or `/assets/by-uri`; `Ok(None)` when there is no such asset.
    pub async fn get_asset(
        &self,
        name: Option<&str>,
        uri: Option<&str>,
    ) -> R<Option<AssetResponse>> {
        let (path, q) = match (name, uri) {
            (Some(n), _) => ("/assets/by-name", [("name", n.to_owned())]),
            (None, Some(u)) => ("/assets/by-uri", [("uri", u.to_owned())]),
            (None, None) => return Ok(None),
        };
        match self.json(Method::GET, path, &q, NO_BODY).await {
            Err(e) if e.status() == Some(404) => Ok(None),
            other => other.map(Some),
        }
    }

    /// `GET /assets/by-alias`.
    pub async fn assets_by_alias(&self, alias_name: &str) -> R<Vec<AssetResponse>> {
        match self
            .json(
                Method::GET,
                "/assets/by-alias",
                &[("alias_name", alias_name.to_owned())],
                NO_BODY,
            )
            .await
        {
            Err(e) if e.status() == Some(404) => Ok(Vec::new()),
            other => other,
        }
    }

    /// `GET /asset-events/by-asset` (with name or uri) or `/asset-events/by-asset-alias` (alias).
    #[allow(clippy::too_many_arguments)]
    pub async fn asset_events(
        &self,
        name: Option<&str>,
        uri: Option<&str>,
        alias: Option<&str>,
        after: Option<Timestamp>,
        before: Option<Timestamp>,
        limit: Option<i64>,
        ascending: bool,
    ) -> R<AssetEventsResponse> {
        let mut q = Vec::new();
        let path = if let Some(a) = alias {
            q.push(("name", a.to_owned()));
            "/asset-events/by-asset-alias"
        } else {
            if let Some(n) = name {
                q.push(("name", n.to_owned()));
            }
            if let Some(u) = uri {
                q.push(("uri", u.to_owned()));
            }
            "/asset-events/by-asset"
        };
        if let Some(a) = after {
            q.push(("after", to_rfc3339(&a)));
        }
        if let Some(b) = before {
            q.push(("before", to_rfc3339(&b)));
        }
        if let Some(l) = limit {
            q.push(("limit", l.to_string()));
        }
        q.push(("ascending", ascending.to_string()));
        self.json(Method::GET, path, &q, NO_BODY).await
    }

    /// `PUT /airlock/triggerers/{id}/heartbeat`.
    pub async fn triggerer_heartbeat(&self, id: &str, hb: &TriggererHeartbeat) -> R<()> {
        self.call(
            Method::PUT,
            &format!("/airlock/triggerers/{}/heartbeat", seg(id)),
            &[],
            Some(hb),
        )
        .await
        .map(drop)
    }

    /// `DELETE /airlock/triggerers/{id}`: hand this triggerer's triggers to others now.
    pub async fn retire_triggerer(&self, id: &str) -> R<()> {
        self.call(
            Method::DELETE,
            &format!("/airlock/triggerers/{}", seg(id)),
            &[],
            NO_BODY,
        )
        .await
        .map(drop)
    }

    /// `POST /airlock/triggerers/{id}/claim` (a long poll of up to `req.wait_ms`).
    pub async fn claim_triggers(&self, id: &str, req: &ClaimRequest) -> R<ClaimResponse> {
        self.json(
            Method::POST,
            &format!("/airlock/triggerers/{}/claim", seg(id)),
            &[],
            Some(req),
        )
        .await
    }

    /// `POST /airlock/triggerers/{id}/outcomes`: many outcomes in one transaction.
    pub async fn trigger_outcomes(
        &self,
        triggerer: &str,
        batch: &TriggerOutcomeBatch,
    ) -> R<TriggerOutcomesResponse> {
        self.json(
            Method::POST,
            &format!("/airlock/triggerers/{}/outcomes", seg(triggerer)),
            &[],
            Some(batch),
        )
        .await
    }

    /// `POST /airlock/triggers/{id}/outcome`.
    pub async fn trigger_outcome(
        &self,
        trigger_id: i64,
        outcome: &TriggerOutcomeRequest,
    ) -> R<TriggerOutcomeResponse> {
        self.json(
            Method::POST,
            &format!("/airlock/triggers/{trigger_id}/outcome"),
            &[],
            Some(outcome),
        )
        .await
    }
}
