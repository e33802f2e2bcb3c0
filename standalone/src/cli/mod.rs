//! The command line of `airlock`.

pub mod connect;
pub mod dag_test;
pub mod dags;
pub mod db;
pub mod exit;
pub mod live;
pub mod logs;
pub mod outage;
pub mod pools;
pub mod progress;
pub mod runs;
pub mod standalone;
pub mod table;
pub mod tasks;
pub mod users;
pub mod vars;
pub mod worker;
