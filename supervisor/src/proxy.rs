//! Answering the runner's requests by calling the Execution API, the way Airflow's supervisor
//! does: expected "not found"/"denied" answers become `ErrorResponse` bodies the runner returns
//! as values; every other failure goes in the frame's error slot, which the runner raises.

use std::sync::{Arc, Mutex};

use airlock_api_client::{ApiClient, ClientError, TiQuery};
use airlock_protocol::api::{
    SuccessLiteral, TIAwaitingInputStatePayload, TIDeferredStatePayload, TIRescheduleStatePayload,
    TIRetryStatePayload, TISkippedDownstreamTasksStatePayload, TIStatePayload,
    TISuccessStatePayload, TriggerDAGRunPayload,
};
use airlock_protocol::comms::*;
use airlock_protocol::state::TaskInstanceState;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::outcome::TryState;
use crate::secrets::{Redactor, is_sensitive_name};

/// An answer to one request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reply {
    /// The body (may be an `ErrorResponse`).
    pub body: Option<ToTask>,
    /// The error slot.
    pub error: Option<ErrorResponse>,
}

impl Reply {
    fn body(b: ToTask) -> Self {
        Self {
            body: Some(b),
            error: None,
        }
    }

    fn empty() -> Self {
        Self::default()
    }

    fn error(e: ErrorResponse) -> Self {
        Self {
            body: None,
            error: Some(e),
        }
    }

    fn not_found(kind: ErrorType, detail: Value) -> Self {
        Self::body(ToTask::ErrorResponse(ErrorResponse::new(kind, detail)))
    }

    fn ok() -> Self {
        Self::body(ToTask::OKResponse(OKResponse { ok: true }))
    }
}

/// The error-slot form of a failed API call, as Airflow's supervisor builds it.
pub fn api_error(e: &ClientError) -> ErrorResponse {
    let detail = match e {
        ClientError::Status { status, detail, .. } => {
            json!({"status_code": status, "message": e.to_string(), "detail": detail})
        }
        _ => {
            json!({"status_code": null, "message": e.to_string(), "exception_type": e.exception_type()})
        }
    };
    ErrorResponse::new(ErrorType::ApiServerError, detail)
}

/// The error slot for a request the supervisor will not serve.
pub fn refused(status: u16, message: impl Into<String>) -> ErrorResponse {
    ErrorResponse::new(
        ErrorType::ApiServerError,
        json!({"status_code": status, "message": message.into()}),
    )
}

/// Why the server says this try is over, if an answer says so: a write refused because the try
/// is no longer running (409 `not_running`, `invalid_state`) or was archived (410). The runner
/// is then stopped (fencing).
pub fn fenced(reply: &Reply) -> Option<String> {
    let detail = reply.error.as_ref()?.detail.as_ref()?;
    let status = detail.get("status_code")?.as_u64()?;
    let reason = detail
        .get("detail")
        .and_then(|d| d.get("reason"))
        .and_then(Value::as_str);
    match (status, reason) {
        (410, _) => Some("this try was retried and archived".into()),
        (409, Some(r @ ("not_running" | "invalid_state"))) => {
            Some(format!("this try is no longer running ({r})"))
        }
        _ => None,
    }
}

fn reply_or<T>(r: Result<T, ClientError>, ok: impl FnOnce(T) -> Reply) -> Reply {
    match r {
        Ok(v) => ok(v),
        Err(e) => Reply::error(api_error(&e)),
    }
}

fn denied(e: &ClientError) -> bool {
    matches!(e.status(), Some(401 | 403))
}

/// Proxies requests for one task-instance try.
pub struct Proxy {
    client: ApiClient,
    ti_id: Uuid,
    redactor: Arc<Mutex<Redactor>>,
}

impl Proxy {
    /// A proxy for `ti_id` through `client`, registering secrets with `redactor`.
    pub fn new(client: ApiClient, ti_id: Uuid, redactor: Arc<Mutex<Redactor>>) -> Self {
        Self {
            client,
            ti_id,
            redactor,
        }
    }

    fn mask(&self, v: &Value) {
        if let Ok(mut r) = self.redactor.lock() {
            r.add(v);
        }
    }

    /// Reports a terminal state; on failure the report is kept for a replay at exit.
    async fn report(&self, state: &mut TryState, payload: TIStatePayload) -> Reply {
        let target = payload.target_state();
        state.pending = Some(payload.clone());
        match self.client.update_state(self.ti_id, &payload).await {
            Ok(()) => {
                state.pending = None;
                state.reported = Some(target);
                Reply::empty()
            }
            Err(e) => Reply::error(api_error(&e)),
        }
    }

    /// Answers one request, updating `state` for terminal messages.
    pub async fn handle(&self, msg: ToSupervisor, state: &mut TryState) -> Reply {
        let c = &self.client;
        let id = self.ti_id;
        match msg {
            ToSupervisor::SucceedTask(m) => {
                if m.rendered_map_index.is_some() {
                    state.rendered_map_index = m.rendered_map_index.clone();
                }
                let p = TISuccessStatePayload {
                    state: SuccessLiteral::Value,
                    end_date: m.end_date,
                    task_outlets: m.task_outlets.unwrap_or_default(),
                    outlet_events: m.outlet_events.unwrap_or_default(),
                    rendered_map_index: m
                        .rendered_map_index
                        .or_else(|| state.rendered_map_index.clone()),
                };
                self.report(state, TIStatePayload::Success(p)).await
            }
            ToSupervisor::RetryTask(m) => {
                let p = TIRetryStatePayload {
                    state: m.state,
                    end_date: m.end_date,
                    rendered_map_index: m
                        .rendered_map_index
                        .or_else(|| state.rendered_map_index.clone()),
                    retry_delay_seconds: m.retry_delay_seconds,
                    retry_reason: m.retry_reason,
                };
                self.report(state, TIStatePayload::Retry(p)).await
            }
            ToSupervisor::DeferTask(m) => {
                let p = TIDeferredStatePayload {
                    state: m.state,
                    classpath: m.classpath,
                    trigger_kwargs: m.trigger_kwargs,
                    trigger_timeout: m.trigger_timeout,
                    queue: m.queue,
                    next_method: m.next_method,
                    next_kwargs: m.next_kwargs,
                    rendered_map_index: m.rendered_map_index,
                };
                self.report(state, TIStatePayload::Deferred(p)).await
            }
            ToSupervisor::RescheduleTask(m) => {
                let p = TIRescheduleStatePayload {
                    state: m.state,
                    reschedule_date: m.reschedule_date,
                    end_date: m.end_date,
                };
                self.report(state, TIStatePayload::Reschedule(p)).await
            }
            ToSupervisor::AwaitInputTask(m) => {
                let p = TIAwaitingInputStatePayload {
                    state: m.state,
                    timeout: m.timeout,
                    next_method: m.next_method,
                    next_kwargs: m.next_kwargs,
                    rendered_map_index: m.rendered_map_index,
                };
                self.report(state, TIStatePayload::AwaitingInput(p)).await
            }
            ToSupervisor::TaskState(m) => {
                if m.rendered_map_index.is_some() {
                    state.rendered_map_index = m.rendered_map_index;
                }
                state.final_state = Some((m.state, m.end_date));
                Reply::empty()
            }
            ToSupervisor::SkipDownstreamTasks(m) => reply_or(
                c.skip_downstream(id, &TISkippedDownstreamTasksStatePayload { tasks: m.tasks })
                    .await,
                |_| Reply::empty(),
            ),
            ToSupervisor::SetRenderedFields(m) => match c.set_rtif(id, &m.rendered_fields).await {
                // A try retried meanwhile has a new id; its late RTIF write is moot.
                Err(e) if e.status() != Some(410) => Reply::error(api_error(&e)),
                _ => Reply::empty(),
            },
            ToSupervisor::SetRenderedMapIndex(m) => {
                state.rendered_map_index = Some(m.rendered_map_index.clone());
                reply_or(
                    c.set_rendered_map_index(id, &m.rendered_map_index).await,
                    |_| Reply::empty(),
                )
            }
            ToSupervisor::GetXCom(m) => reply_or(
                c.get_xcom(
                    &m.dag_id,
                    &m.run_id,
                    &m.task_id,
                    &m.key,
                    m.map_index,
                    m.include_prior_dates,
                )
                .await,
                // A missing XCom is a null value, as in Airflow.
                |found| {
                    Reply::body(ToTask::XComResult(XComResult {
                        key: m.key.clone(),
                        value: found.map(|x| x.value).unwrap_or(Value::Null),
                    }))
                },
            ),
            ToSupervisor::GetXComCount(m) => reply_or(
                c.count_xcom(&m.dag_id, &m.run_id, &m.task_id, &m.key).await,
                |len| Reply::body(ToTask::XComCountResponse(XComCountResponse { len })),
            ),
            ToSupervisor::GetXComSequenceItem(m) => reply_or(
                c.get_xcom_item(&m.dag_id, &m.run_id, &m.task_id, &m.key, m.offset)
                    .await,
                |v| match v {
                    Some(root) => {
                        Reply::body(ToTask::XComSequenceIndexResult(XComSequenceIndexResult {
                            root,
                        }))
                    }
                    None => Reply::not_found(
                        ErrorType::XcomNotFound,
                        json!({"dag_id": m.dag_id, "run_id": m.run_id, "task_id": m.task_id, "key": m.key, "offset": m.offset}),
                    ),
                },
            ),
            ToSupervisor::GetXComSequenceSlice(m) => reply_or(
                c.get_xcom_slice(
                    &m.dag_id,
                    &m.run_id,
                    &m.task_id,
                    &m.key,
                    m.start,
                    m.stop,
                    m.step,
                    m.include_prior_dates,
                )
                .await,
                |root| {
                    Reply::body(ToTask::XComSequenceSliceResult(XComSequenceSliceResult {
                        root,
                    }))
                },
            ),
            ToSupervisor::SetXCom(m) => reply_or(
                c.set_xcom(
                    &m.dag_id,
                    &m.run_id,
                    &m.task_id,
                    &m.key,
                    &m.value,
                    m.map_index,
                    m.dag_result,
                    m.mapped_length,
                )
                .await,
                |_| Reply::empty(),
            ),
            ToSupervisor::DeleteXCom(m) => reply_or(
                c.delete_xcom(&m.dag_id, &m.run_id, &m.task_id, &m.key, m.map_index)
                    .await,
                |_| Reply::empty(),
            ),
            ToSupervisor::GetVariable(m) => match c.get_variable(&m.key).await {
                Ok(Some(v)) => {
                    if is_sensitive_name(&m.key)
                        && let Some(val) = &v.value
                    {
                        self.mask(&Value::String(val.clone()));
                    }
                    Reply::body(ToTask::VariableResult(v))
                }
                Ok(None) => Reply::not_found(ErrorType::VariableNotFound, json!({"key": m.key})),
                Err(e) if denied(&e) => Reply::not_found(
                    ErrorType::PermissionDenied,
                    json!({"key": m.key, "status_code": e.status()}),
                ),
                Err(e) => Reply::error(api_error(&e)),
            },
            ToSupervisor::GetVariableKeys(m) => reply_or(
                c.variable_keys(m.prefix.as_deref(), m.limit, m.offset)
                    .await,
                |k| Reply::body(ToTask::VariableKeysResult(k)),
            ),
            ToSupervisor::PutVariable(m) => reply_or(
                c.put_variable(&m.key, m.value.as_deref(), m.description.as_deref())
                    .await,
                |_| Reply::empty(),
            ),
            ToSupervisor::DeleteVariable(m) => {
                reply_or(c.delete_variable(&m.key).await, |_| Reply::ok())
            }
            ToSupervisor::GetConnection(m) => match c.get_connection(&m.conn_id).await {
                Ok(Some(conn)) => {
                    for secret in [&conn.password, &conn.extra].into_iter().flatten() {
                        self.mask(&Value::String(secret.clone()));
                    }
                    Reply::body(ToTask::ConnectionResult(conn))
                }
                Ok(None) => {
                    Reply::not_found(ErrorType::ConnectionNotFound, json!({"conn_id": m.conn_id}))
                }
                Err(e) if denied(&e) => Reply::not_found(
                    ErrorType::PermissionDenied,
                    json!({"conn_id": m.conn_id, "status_code": e.status()}),
                ),
                Err(e) => Reply::error(api_error(&e)),
            },
            ToSupervisor::MaskSecret(m) => {
                self.mask(&m.value);
                Reply::empty()
            }
            ToSupervisor::GetDagRun(m) => {
                reply_or(c.get_dag_run(&m.dag_id, &m.run_id).await, |r| {
                    Reply::body(ToTask::DagRunResult(r))
                })
            }
            ToSupervisor::GetDagRunState(m) => {
                reply_or(c.dag_run_state(&m.dag_id, &m.run_id).await, |s| {
                    Reply::body(ToTask::DagRunStateResult(DagRunStateResult { state: s }))
                })
            }
            ToSupervisor::GetDRCount(m) => reply_or(
                c.dag_run_count(&m.dag_id, m.logical_dates, m.run_ids, m.states)
                    .await,
                |count| Reply::body(ToTask::DRCount(CountResult { count })),
            ),
            ToSupervisor::GetPreviousDagRun(m) => reply_or(
                c.previous_dag_run(&m.dag_id, m.logical_date, m.state.as_deref())
                    .await,
                |dag_run| {
                    Reply::body(ToTask::PreviousDagRunResult(PreviousDagRunResult {
                        dag_run,
                    }))
                },
            ),
            ToSupervisor::TriggerDagRun(m) => {
                let p = TriggerDAGRunPayload {
                    logical_date: m.logical_date,
                    run_after: m.run_after,
                    conf: m.conf,
                    reset_dag_run: m.reset_dag_run.unwrap_or(false),
                    partition_key: m.partition_key,
                    note: m.note,
                };
                match c.trigger_dag_run(&m.dag_id, &m.run_id, &p).await {
                    Ok(()) => Reply::ok(),
                    Err(e) if e.status() == Some(409) && p.reset_dag_run => {
                        reply_or(c.clear_dag_run(&m.dag_id, &m.run_id).await, |_| Reply::ok())
                    }
                    Err(e) if e.status() == Some(409) => Reply::not_found(
                        ErrorType::DagrunAlreadyExists,
                        json!({"dag_id": m.dag_id, "run_id": m.run_id}),
                    ),
                    Err(e) => Reply::error(api_error(&e)),
                }
            }
            ToSupervisor::GetDag(m) => reply_or(c.get_dag(&m.dag_id).await, |d| {
                Reply::body(ToTask::DagResult(d))
            }),
            ToSupervisor::GetTICount(m) => {
                let q = TiQuery {
                    dag_id: m.dag_id,
                    map_index: m.map_index,
                    task_ids: m.task_ids,
                    task_group_id: m.task_group_id,
                    logical_dates: m.logical_dates,
                    run_ids: m.run_ids,
                    states: m.states,
                };
                reply_or(c.ti_count(&q).await, |count| {
                    Reply::body(ToTask::TICount(CountResult { count }))
                })
            }
            ToSupervisor::GetTaskStates(m) => {
                let q = TiQuery {
                    dag_id: m.dag_id,
                    map_index: m.map_index,
                    task_ids: m.task_ids,
                    task_group_id: m.task_group_id,
                    logical_dates: m.logical_dates,
                    run_ids: m.run_ids,
                    states: None,
                };
                reply_or(c.ti_states(&q).await, |r| {
                    Reply::body(ToTask::TaskStatesResult(TaskStatesResult {
                        task_states: r.task_states,
                    }))
                })
            }
            ToSupervisor::GetTaskBreadcrumbs(m) => {
                reply_or(c.breadcrumbs(&m.dag_id, &m.run_id).await, |r| {
                    Reply::body(ToTask::TaskBreadcrumbsResult(TaskBreadcrumbsResult {
                        breadcrumbs: r.breadcrumbs,
                    }))
                })
            }
            ToSupervisor::GetPreviousTI(m) => reply_or(
                c.previous_ti(&m.dag_id, &m.task_id, m.logical_date, m.map_index, m.state)
                    .await,
                |task_instance| {
                    Reply::body(ToTask::PreviousTIResult(PreviousTIResult { task_instance }))
                },
            ),
            // As in Airflow, the message's ti_id is ignored: a try asks about itself.
            ToSupervisor::GetPrevSuccessfulDagRun(_) => {
                reply_or(c.previous_successful_dag_run(id).await, |r| {
                    Reply::body(ToTask::PrevSuccessfulDagRunResult(r))
                })
            }
            ToSupervisor::GetTaskRescheduleStartDate(m) => {
                reply_or(c.reschedule_start_date(id, m.try_number).await, |start| {
                    let start_date =
                        start.and_then(|s| airlock_protocol::time::parse_rfc3339(&s).ok());
                    Reply::body(ToTask::TaskRescheduleStartDate(TaskRescheduleStartDate {
                        start_date,
                    }))
                })
            }
            ToSupervisor::ValidateInletsAndOutlets(_) => {
                reply_or(c.validate_inlets_and_outlets(id).await, |r| {
                    Reply::body(ToTask::InactiveAssetsResult(InactiveAssetsResult {
                        inactive_assets: Some(r.inactive_assets),
                    }))
                })
            }
            ToSupervisor::GetAssetByName(m) => {
                reply_or(c.get_asset(Some(&m.name), None).await, |a| match a {
                    Some(a) => Reply::body(ToTask::AssetResult(a)),
                    None => Reply::not_found(ErrorType::AssetNotFound, json!({"name": m.name})),
                })
            }
            ToSupervisor::GetAssetByUri(m) => {
                reply_or(c.get_asset(None, Some(&m.uri)).await, |a| match a {
                    Some(a) => Reply::body(ToTask::AssetResult(a)),
                    None => Reply::not_found(ErrorType::AssetNotFound, json!({"uri": m.uri})),
                })
            }
            ToSupervisor::GetAssetsByAlias(m) => {
                reply_or(c.assets_by_alias(&m.alias_name).await, |assets| {
                    Reply::body(ToTask::AssetsByAliasResult(AssetsByAliasResult { assets }))
                })
            }
            ToSupervisor::GetAssetEventByAsset(m) => reply_or(
                c.asset_events(
                    m.name.as_deref(),
                    m.uri.as_deref(),
                    None,
                    m.after,
                    m.before,
                    m.limit,
                    m.ascending,
                )
                .await,
                |r| {
                    Reply::body(ToTask::AssetEventsResult(AssetEventsResult {
                        asset_events: r.asset_events,
                    }))
                },
            ),
            ToSupervisor::GetAssetEventByAssetAlias(m) => reply_or(
                c.asset_events(
                    None,
                    None,
                    Some(&m.alias_name),
                    m.after,
                    m.before,
                    m.limit,
                    m.ascending,
                )
                .await,
                |r| {
                    Reply::body(ToTask::AssetEventsResult(AssetEventsResult {
                        asset_events: r.asset_events,
                    }))
                },
            ),
            ToSupervisor::GetTaskStateStore(_)
            | ToSupervisor::SetTaskStateStore(_)
            | ToSupervisor::DeleteTaskStateStore(_)
            | ToSupervisor::ClearTaskStateStore(_)
            | ToSupervisor::GetAssetStateStoreByName(_)
            | ToSupervisor::SetAssetStateStoreByName(_)
            | ToSupervisor::DeleteAssetStateStoreByName(_)
            | ToSupervisor::ClearAssetStateStoreByName(_)
            | ToSupervisor::GetAssetStateStoreByUri(_)
            | ToSupervisor::SetAssetStateStoreByUri(_)
            | ToSupervisor::DeleteAssetStateStoreByUri(_)
            | ToSupervisor::ClearAssetStateStoreByUri(_)
            | ToSupervisor::CreateHITLDetailPayload(_) => Reply::error(refused(
                501,
                "state stores and human-in-the-loop requests are not supported by this Airlock server",
            )),
            // Airflow's task supervisor does not serve these either (only its triggerer does).
            ToSupervisor::UpdateHITLDetail(_) | ToSupervisor::GetHITLDetailResponse(_) => {
                Reply::error(refused(400, "Unhandled request"))
            }
            // No descriptor passing: the runner already has its log channel (`AIRLOCK_LOG_FD`).
            // Airflow answers with an empty frame when it cannot pass descriptors.
            ToSupervisor::ResendLoggingFD(_) => Reply::empty(),
        }
    }
}

/// Whether a state is one after which the runner should exit soon (the overtime clock starts).
pub fn ends_the_try(state: TaskInstanceState) -> bool {
    matches!(
        state,
        TaskInstanceState::Success | TaskInstanceState::UpForRetry
    ) || state.is_terminal()
}
