//! Execution API suites: every route and its error paths, on SQLite and on PostgreSQL, over
//! real HTTP against an in-process server.

#[macro_use]
mod common;

mod airlock_routes;
mod assets;
mod auth;
mod bad_input;
mod boundary;
mod concurrency;
mod control;
mod dag_runs;
mod openapi;
mod operate;
mod pools;
mod task_instance_queries;
mod task_instance_state;
mod task_instances;
mod triggerer_routes;
mod ui;
mod variables_connections;
mod xcoms;
