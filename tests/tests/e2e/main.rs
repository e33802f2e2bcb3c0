//! End-to-end suites over real processes.

mod airflow_dags;
mod api_server_process;
mod callbacks;
mod faults;
mod fuzz;
mod hosts;
mod isolation;
mod live_display;
mod mapping;
mod metrics;
mod notifications;
mod operate;
mod pools;
mod scheduler_service;
mod schedules;
mod shipped_logs;
mod slow_clients;
mod standalone;
mod supervisor;
mod tls;
mod traces;
mod triggerer;
mod ui;
mod worker_tokens;
