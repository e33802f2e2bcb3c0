//! Control-API methods for operating runs, Variables and Connections (`airlock runs|tasks|vars|
//! conns`; `admin`-scope tokens).

use airlock_protocol::api::{
    CancelRunRequest, ClearRequest, ConnectionBody, ConnectionList, ConnectionSummary,
    DbCleanReport, DbCleanRequest, MarkRunRequest, MarkTasksRequest, PoolBody, PoolList,
    RunDetails, RunList, TaskInstanceChanges, UserBody, UserList, VariableBody, VariableEntry,
    VariableList, XComList,
};
use airlock_protocol::state::DagRunState;
use chrono::{DateTime, Utc};
use reqwest::Method;

use crate::ClientError;
use crate::client::{ApiClient, seg};

type R<T> = Result<T, ClientError>;

const NO_BODY: Option<&'static ()> = None;

fn run_path(dag_id: &str, run_id: &str) -> String {
    format!("/airlock/control/dags/{}/runs/{}", seg(dag_id), seg(run_id))
}

impl ApiClient {
    /// `GET /airlock/control/runs`: newest first.
    pub async fn list_runs(
        &self,
        dag_id: Option<&str>,
        states: &[DagRunState],
        since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> R<RunList> {
        let mut q = vec![("limit", limit.to_string())];
        if let Some(d) = dag_id {
            q.push(("dag_id", d.to_owned()));
        }
        for s in states {
            q.push(("state", s.as_str().to_owned()));
        }
        if let Some(t) = since {
            q.push(("since", airlock_protocol::time::to_rfc3339(&t)));
        }
        self.json(Method::GET, "/airlock/control/runs", &q, NO_BODY)
            .await
    }

    /// `POST .../runs/{run_id}/clear`.
    pub async fn clear(
        &self,
        dag_id: &str,
        run_id: &str,
        req: &ClearRequest,
    ) -> R<TaskInstanceChanges> {
        let path = format!("{}/clear", run_path(dag_id, run_id));
        self.json(Method::POST, &path, &[], Some(req)).await
    }

    /// `POST .../runs/{run_id}/tasks/mark`.
    pub async fn mark_tasks(
        &self,
        dag_id: &str,
        run_id: &str,
        req: &MarkTasksRequest,
    ) -> R<TaskInstanceChanges> {
        let path = format!("{}/tasks/mark", run_path(dag_id, run_id));
        self.json(Method::POST, &path, &[], Some(req)).await
    }

    /// `PATCH .../runs/{run_id}`.
    pub async fn mark_run(
        &self,
        dag_id: &str,
        run_id: &str,
        req: &MarkRunRequest,
    ) -> R<RunDetails> {
        self.json(Method::PATCH, &run_path(dag_id, run_id), &[], Some(req))
            .await
    }

    /// `POST .../runs/{run_id}/cancel`.
    pub async fn cancel_run(
        &self,
        dag_id: &str,
        run_id: &str,
        req: &CancelRunRequest,
    ) -> R<RunDetails> {
        let path = format!("{}/cancel", run_path(dag_id, run_id));
        self.json(Method::POST, &path, &[], Some(req)).await
    }

    /// `GET /airlock/control/variables`.
    pub async fn list_variables(&self, prefix: Option<&str>, limit: i64) -> R<VariableList> {
        let mut q = vec![("limit", limit.to_string())];
        if let Some(p) = prefix {
            q.push(("prefix", p.to_owned()));
        }
        self.json(Method::GET, "/airlock/control/variables", &q, NO_BODY)
            .await
    }

    /// `GET /airlock/control/variables/{key}`.
    pub async fn variable_entry(&self, key: &str) -> R<VariableEntry> {
        let path = format!("/airlock/control/variables/{}", seg(key));
        self.json(Method::GET, &path, &[], NO_BODY).await
    }

    /// `PUT /airlock/control/variables/{key}`.
    pub async fn set_variable(&self, key: &str, body: &VariableBody) -> R<()> {
        let path = format!("/airlock/control/variables/{}", seg(key));
        self.call(Method::PUT, &path, &[], Some(body))
            .await
            .map(drop)
    }

    /// `DELETE /airlock/control/variables/{key}`.
    pub async fn remove_variable(&self, key: &str) -> R<()> {
        let path = format!("/airlock/control/variables/{}", seg(key));
        self.call(Method::DELETE, &path, &[], NO_BODY)
            .await
            .map(drop)
    }

    /// `GET /airlock/control/connections`.
    pub async fn list_connections(&self) -> R<ConnectionList> {
        self.json(Method::GET, "/airlock/control/connections", &[], NO_BODY)
            .await
    }

    /// `GET /airlock/control/connections/{conn_id}`.
    pub async fn connection_summary(&self, conn_id: &str) -> R<ConnectionSummary> {
        let path = format!("/airlock/control/connections/{}", seg(conn_id));
        self.json(Method::GET, &path, &[], NO_BODY).await
    }

    /// `PUT /airlock/control/connections/{conn_id}`.
    pub async fn set_connection(&self, conn_id: &str, body: &ConnectionBody) -> R<()> {
        let path = format!("/airlock/control/connections/{}", seg(conn_id));
        self.call(Method::PUT, &path, &[], Some(body))
            .await
            .map(drop)
    }

    /// `DELETE /airlock/control/connections/{conn_id}`.
    pub async fn remove_connection(&self, conn_id: &str) -> R<()> {
        let path = format!("/airlock/control/connections/{}", seg(conn_id));
        self.call(Method::DELETE, &path, &[], NO_BODY)
            .await
            .map(drop)
    }

    /// `POST /airlock/control/db/clean`.
    pub async fn clean_db(&self, req: &DbCleanRequest) -> R<DbCleanReport> {
        self.json(Method::POST, "/airlock/control/db/clean", &[], Some(req))
            .await
    }

    /// `GET .../runs/{run_id}/tasks/{task_id}/xcoms`.
    pub async fn task_xcoms(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        map_index: Option<i64>,
    ) -> R<XComList> {
        let path = format!("{}/tasks/{}/xcoms", run_path(dag_id, run_id), seg(task_id));
        let q: Vec<(&str, String)> = map_index
            .map(|m| ("map_index", m.to_string()))
            .into_iter()
            .collect();
        self.json(Method::GET, &path, &q, NO_BODY).await
    }

    /// `GET /airlock/control/users`.
    pub async fn list_users(&self) -> R<UserList> {
        self.json(Method::GET, "/airlock/control/users", &[], NO_BODY)
            .await
    }

    /// `PUT /airlock/control/users/{username}`.
    pub async fn put_user(&self, username: &str, body: &UserBody) -> R<()> {
        let path = format!("/airlock/control/users/{}", seg(username));
        self.call(Method::PUT, &path, &[], Some(body))
            .await
            .map(drop)
    }

    /// `DELETE /airlock/control/users/{username}`.
    pub async fn delete_user(&self, username: &str) -> R<()> {
        let path = format!("/airlock/control/users/{}", seg(username));
        self.call(Method::DELETE, &path, &[], NO_BODY)
            .await
            .map(drop)
    }

    /// `GET /airlock/control/pools`.
    pub async fn list_pools(&self) -> R<PoolList> {
        self.json(Method::GET, "/airlock/control/pools", &[], NO_BODY)
            .await
    }

    /// `PUT /airlock/control/pools/{name}`.
    pub async fn put_pool(&self, name: &str, body: &PoolBody) -> R<()> {
        let path = format!("/airlock/control/pools/{}", seg(name));
        self.call(Method::PUT, &path, &[], Some(body))
            .await
            .map(drop)
    }

    /// `DELETE /airlock/control/pools/{name}`.
    pub async fn delete_pool(&self, name: &str) -> R<()> {
        let path = format!("/airlock/control/pools/{}", seg(name));
        self.call(Method::DELETE, &path, &[], NO_BODY)
            .await
            .map(drop)
    }
}
