//! The Airlock Task Execution API server.
//!
//! An axum application under `/execution`, wire-compatible with Apache Airflow 3.3's Execution
//! API (version `2026-06-30`), persisting to SQLite (embedded default) or PostgreSQL.
//!
//! * [`routes`]: handlers and the OpenAPI document ([`openapi`]).
//! * [`auth`]: JWTs: signing, validation, refresh, per-route scopes.
//! * The store (`airlock-store`) holds the data; the scheduler (`airlock-scheduler`) moves it on.
//! * [`server`]: building and serving with graceful shutdown.
//! * [`admin`]: operator commands (seed runs, mint tokens, set Variables and Connections).
//! * [`ui`]: the web UI's pages and assets (embedded), and its passwords.
//! * [`metrics`]: Prometheus metrics at `GET /metrics`.

pub mod admin;
pub mod auth;
pub mod config;
pub mod env_secrets;
pub mod error;
pub mod extract;
pub mod fence;
pub mod guard;
pub mod metrics;
pub mod notifier;
mod notifier_email;
pub mod routes;
pub mod server;
pub mod state;
pub mod task_logs;
pub mod tls;
pub mod ui;
pub mod version;

pub use routes::openapi;
pub use server::Server;
