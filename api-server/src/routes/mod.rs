//! The HTTP surface: the router under `/execution` and the OpenAPI document that describes it.
//!
//! Adding an endpoint: write the handler with its `#[utoipa::path]` in the module for its
//! resource, register it in [`router`] and list it in [`ApiDoc`]; then run
//! `cargo run -p airlock-api-server -- openapi > openapi/execution-api.json`.

mod airlock;
mod assets;
mod connections;
mod control;
mod control_secrets;
mod dag_runs;
mod health;
mod meta;
mod operate;
mod pools;
mod task_instance_queries;
mod task_instances;
mod triggerer;
mod ui;
mod variables;
mod xcoms;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, patch, post, put};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::RequestBodyDeadlineLayer;
use utoipa::OpenApi;

use crate::auth;
use crate::extract::BodyLimit;
use crate::state::AppState;
use crate::version;

/// The whole application: `/execution/...` plus `/.well-known/jwks.json`. Bodies larger than
/// `body_limit` are refused (at once when `Content-Length` says so), bodies slower than
/// `body_read_timeout` too, and a handler that panics still answers 500.
pub fn router(state: AppState, body_limit: usize, body_read_timeout: Duration) -> Router {
    use task_instance_queries as tiq;
    use task_instances as ti;
    let api = Router::new()
        .route("/health", get(health::health))
        .route("/health/ping", get(health::ping))
        .route("/task-instances/count", get(tiq::get_task_instance_count))
        .route("/task-instances/states", get(tiq::get_task_instance_states))
        .route(
            "/task-instances/breadcrumbs",
            get(tiq::get_task_instance_breadcrumbs),
        )
        .route(
            "/task-instances/previous/{dag_id}/{task_id}",
            get(tiq::get_previous_task_instance),
        )
        .route("/task-instances/{task_instance_id}/run", patch(ti::ti_run))
        .route(
            "/task-instances/{task_instance_id}/state",
            patch(ti::ti_update_state),
        )
        .route(
            "/task-instances/{task_instance_id}/skip-downstream",
            patch(ti::ti_skip_downstream),
        )
        .route(
            "/task-instances/{task_instance_id}/heartbeat",
            put(ti::ti_heartbeat),
        )
        .route(
            "/task-instances/{task_instance_id}/rtif",
            put(ti::ti_put_rtif),
        )
        .route(
            "/task-instances/{task_instance_id}/rendered-map-index",
            patch(ti::ti_patch_rendered_map_index),
        )
        .route(
            "/task-instances/{task_instance_id}/previous-successful-dagrun",
            get(ti::get_previous_successful_dagrun),
        )
        .route(
            "/task-instances/{task_instance_id}/validate-inlets-and-outlets",
            get(ti::validate_inlets_and_outlets),
        )
        .route(
            "/task-reschedules/{task_instance_id}/start_date",
            get(tiq::get_reschedule_start_date),
        )
        .route(
            "/xcoms/{dag_id}/{run_id}/{task_id}/{*key}",
            get(xcoms::get_any)
                .head(xcoms::head_xcom)
                .post(xcoms::set_xcom)
                .delete(xcoms::delete_xcom),
        )
        .route("/variables/keys", get(variables::get_variable_keys))
        .route(
            "/variables/{*variable_key}",
            get(variables::get_variable)
                .put(variables::put_variable)
                .delete(variables::delete_variable),
        )
        .route(
            "/connections/{connection_id}",
            get(connections::get_connection),
        )
        .route("/dag-runs/count", get(dag_runs::get_dr_count))
        .route("/dag-runs/previous", get(dag_runs::get_previous_dagrun))
        .route(
            "/dag-runs/{dag_id}/{run_id}",
            get(dag_runs::get_dag_run).post(dag_runs::trigger_dag_run),
        )
        .route(
            "/dag-runs/{dag_id}/{run_id}/clear",
            post(dag_runs::clear_dag_run),
        )
        .route(
            "/dag-runs/{dag_id}/{run_id}/state",
            get(dag_runs::get_dagrun_state),
        )
        .route("/dags/{dag_id}", get(dag_runs::get_dag))
        .route("/assets/by-name", get(assets::get_asset_by_name))
        .route("/assets/by-uri", get(assets::get_asset_by_uri))
        .route("/assets/by-alias", get(assets::get_assets_by_alias))
        .route(
            "/asset-events/by-asset",
            get(assets::get_asset_event_by_asset_name_uri),
        )
        .route(
            "/asset-events/by-asset-alias",
            get(assets::get_asset_event_by_asset_alias),
        )
        .route(
            "/airlock/task-instances/{task_instance_id}",
            get(airlock::get_task_instance_details),
        )
        .route(
            "/airlock/task-instances/{task_instance_id}/logs",
            post(airlock::ship_task_log),
        )
        .route(
            "/airlock/triggerers/{triggerer_id}/heartbeat",
            put(triggerer::heartbeat),
        )
        .route(
            "/airlock/triggerers/{triggerer_id}",
            axum::routing::delete(triggerer::retire),
        )
        .route(
            "/airlock/triggerers/{triggerer_id}/claim",
            post(triggerer::claim),
        )
        .route(
            "/airlock/triggers/{trigger_id}/outcome",
            post(triggerer::outcome),
        )
        .route(
            "/airlock/triggerers/{triggerer_id}/outcomes",
            post(triggerer::outcomes),
        )
        .route("/airlock/control/dags", get(control::list_dags))
        .route("/airlock/control/dags/{dag_id}", patch(control::patch_dag))
        .route(
            "/airlock/control/bundles/{bundle}",
            put(control::register_bundle),
        )
        .route(
            "/airlock/control/dags/{dag_id}/runs",
            post(control::trigger_run),
        )
        .route(
            "/airlock/control/dags/{dag_id}/runs/{run_id}",
            get(control::get_run).patch(operate::mark_run),
        )
        .route("/airlock/control/runs", get(operate::list_runs))
        .route("/airlock/control/db/clean", post(operate::clean))
        .route(
            "/airlock/control/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/xcoms",
            get(operate::task_xcoms),
        )
        .route(
            "/airlock/control/variables",
            get(control_secrets::list_variables),
        )
        .route(
            "/airlock/control/variables/{*variable_key}",
            get(control_secrets::get_variable)
                .put(control_secrets::put_variable)
                .delete(control_secrets::delete_variable),
        )
        .route(
            "/airlock/control/connections",
            get(control_secrets::list_connections),
        )
        .route(
            "/airlock/control/connections/{connection_id}",
            get(control_secrets::get_connection)
                .put(control_secrets::put_connection)
                .delete(control_secrets::delete_connection),
        )
        .route(
            "/airlock/control/dags/{dag_id}/runs/{run_id}/clear",
            post(operate::clear),
        )
        .route(
            "/airlock/control/dags/{dag_id}/runs/{run_id}/tasks/mark",
            post(operate::mark_tasks),
        )
        .route(
            "/airlock/control/dags/{dag_id}/runs/{run_id}/cancel",
            post(operate::cancel_run),
        )
        .route(
            "/airlock/control/dags/{dag_id}/backfills",
            post(control::backfill),
        )
        .route(
            "/airlock/control/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/logs",
            get(control::task_logs),
        )
        .route(
            "/airlock/control/executors/{executor_id}",
            put(control::register_executor).delete(control::retire_executor),
        )
        .route(
            "/airlock/control/executors/{executor_id}/tick",
            post(control::tick),
        )
        .route(
            "/airlock/control/executors/{executor_id}/events",
            post(control::executor_event),
        )
        .route("/airlock/ui/login", post(ui::login))
        .route("/airlock/ui/logout", post(ui::logout))
        .route("/airlock/ui/session", get(ui::current_session))
        .route("/airlock/control/users", get(ui::list_users))
        .route(
            "/airlock/control/users/{username}",
            put(ui::put_user).delete(ui::delete_user),
        )
        .route("/airlock/control/dags/{dag_id}/grid", get(ui::grid))
        .route(
            "/airlock/control/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/details",
            get(ui::task_instance_page),
        )
        .route("/airlock/control/cluster", get(ui::cluster))
        .route("/airlock/control/pools", get(pools::list_pools))
        .route(
            "/airlock/control/pools/{pool_name}",
            put(pools::put_pool).delete(pools::delete_pool),
        )
        .route("/openapi.json", get(meta::openapi_json))
        .route("/docs", get(meta::docs))
        // Every route above is timed, labelled by its template.
        .route_layer(from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track,
        ))
        .fallback(meta::not_found)
        .method_not_allowed_fallback(meta::method_not_allowed)
        // Inner to the token check: a request without a bearer token may carry a UI session.
        .layer(from_fn_with_state(
            state.clone(),
            auth::session::authenticate_session,
        ))
        .layer(from_fn_with_state(state.tokens.clone(), auth::authenticate))
        .layer(from_fn(version::check_api_version));
    Router::new()
        .nest("/execution", api)
        .route("/.well-known/jwks.json", get(meta::jwks))
        .route("/metrics", get(crate::metrics::scrape))
        .merge(crate::ui::pages())
        .fallback(meta::not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(from_fn(crate::guard::refuse_declared_oversize))
        .layer(axum::Extension(BodyLimit(body_limit)))
        .layer(RequestBodyDeadlineLayer::new(body_read_timeout))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(crate::guard::panic_response))
        .with_state(state)
}

/// The OpenAPI document of the routes above.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Airlock Task Execution API",
        version = "2026-06-30",
        description = "The Task Execution API of Airlock, wire-compatible with Apache Airflow 3.3's \
            Execution API version 2026-06-30. Paths are relative to /execution.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    servers((url = "/execution")),
    paths(
        health::health,
        health::ping,
        task_instances::ti_run,
        task_instances::ti_update_state,
        task_instances::ti_skip_downstream,
        task_instances::ti_heartbeat,
        task_instances::ti_put_rtif,
        task_instances::ti_patch_rendered_map_index,
        task_instances::get_previous_successful_dagrun,
        task_instances::validate_inlets_and_outlets,
        task_instance_queries::get_task_instance_count,
        task_instance_queries::get_task_instance_states,
        task_instance_queries::get_previous_task_instance,
        task_instance_queries::get_task_instance_breadcrumbs,
        task_instance_queries::get_reschedule_start_date,
        xcoms::get_xcom,
        xcoms::get_mapped_xcom_by_index,
        xcoms::get_mapped_xcom_by_slice,
        xcoms::head_xcom,
        xcoms::set_xcom,
        xcoms::delete_xcom,
        variables::get_variable_keys,
        variables::get_variable,
        variables::put_variable,
        variables::delete_variable,
        connections::get_connection,
        dag_runs::get_dag_run,
        dag_runs::trigger_dag_run,
        dag_runs::clear_dag_run,
        dag_runs::get_dagrun_state,
        dag_runs::get_dr_count,
        dag_runs::get_previous_dagrun,
        dag_runs::get_dag,
        assets::get_asset_by_name,
        assets::get_asset_by_uri,
        assets::get_assets_by_alias,
        assets::get_asset_event_by_asset_name_uri,
        assets::get_asset_event_by_asset_alias,
        airlock::get_task_instance_details,
        airlock::ship_task_log,
        triggerer::heartbeat,
        triggerer::retire,
        triggerer::claim,
        triggerer::outcome,
        triggerer::outcomes,
        control::list_dags,
        control::register_bundle,
        control::patch_dag,
        control::trigger_run,
        control::get_run,
        control::backfill,
        control::task_logs,
        control::register_executor,
        control::retire_executor,
        control::tick,
        control::executor_event,
        operate::list_runs,
        operate::clear,
        operate::mark_tasks,
        operate::mark_run,
        operate::cancel_run,
        operate::clean,
        operate::task_xcoms,
        control_secrets::list_variables,
        control_secrets::get_variable,
        control_secrets::put_variable,
        control_secrets::delete_variable,
        control_secrets::list_connections,
        control_secrets::get_connection,
        control_secrets::put_connection,
        control_secrets::delete_connection,
        ui::login,
        ui::logout,
        ui::current_session,
        ui::list_users,
        ui::put_user,
        ui::delete_user,
        ui::grid,
        ui::task_instance_page,
        ui::cluster,
        pools::list_pools,
        pools::put_pool,
        pools::delete_pool,
    ),
    tags(
        (name = "Health", description = "Liveness and readiness"),
        (name = "Task Instances", description = "The lifecycle of task-instance tries, and questions about them"),
        (name = "Task Reschedules", description = "Reschedules of sensor tasks"),
        (name = "XComs", description = "Values tasks pass to each other"),
        (name = "Variables", description = "Global key/value settings"),
        (name = "Connections", description = "Credentials of external systems"),
        (name = "Dag Runs", description = "Runs of DAGs"),
        (name = "Dags", description = "DAGs"),
        (name = "Assets", description = "Data assets"),
        (name = "Asset Events", description = "Events of data assets"),
        (name = "Airlock", description = "Airlock's own routes, beside Airflow's: what supervisors need to start a task instance"),
        (name = "Airlock Control", description = "Airlock's control API (admin-scope tokens, or a web-UI session whose role allows the route: viewer reads, operator also triggers, clears, marks, cancels and pauses, admin also manages Variables, Connections, users and bundles; a session's state-changing requests carry its X-CSRF-Token): register bundles, list DAGs, trigger, inspect, clear, mark and cancel runs, read task logs, manage Variables, Connections and users; the tick and event loop of executors (executor-scope tokens)"),
        (name = "Airlock UI", description = "Signing in to and out of the web UI (served under /ui/): a session cookie, HttpOnly and SameSite=Strict"),
        (name = "Airlock Triggerer", description = "Airlock's own routes for triggerers (triggerer-scope tokens only): claim triggers, heartbeat, report outcomes"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI document, with the security scheme and the error answers every route shares.
/// Needs no database.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    meta::add_shared_parts(&mut doc);
    doc
}
