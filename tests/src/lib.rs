//! Test support shared by Airlock's suites: throwaway databases on both backends and an
//! in-process API server on an ephemeral port.
//!
//! PostgreSQL comes from `AIRLOCK_TEST_PG_URL` (a server where the user may create databases).
//! When it is unset, PostgreSQL tests skip with a message, unless `AIRLOCK_TEST_REQUIRE_PG=1`
//! (set by CI), in which case they fail.

pub mod api;
pub mod db;
pub mod process;

pub use api::TestApi;
pub use db::{Backend, TestDatabase};
