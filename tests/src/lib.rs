//! Test support shared by Airlock's suites: throwaway databases on both backends and an
//! in-process API server on an ephemeral port.
//!
//! PostgreSQL comes from `AIRLOCK_TEST_PG_URL` (a server where the user may create databases).
//! When it is unset, PostgreSQL tests skip with a message, unless `AIRLOCK_TEST_REQUIRE_PG=1`
//! (set by CI), in which case they fail.

pub mod api;
pub mod browser;
pub mod contract;
pub mod db;
pub mod hostile;
pub mod netns;
pub mod process;
pub mod stack;
pub mod standalone;
pub mod tls;

pub use api::TestApi;
pub use db::{Backend, TestDatabase};
pub use stack::Stack;
pub use standalone::Standalone;

/// Defines `mod $name { sqlite(), postgres() }`, running `$body` with `$x` bound to
/// `$start(backend).await` on each backend (PostgreSQL skips when not configured).
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $start:path, |$x:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $x = $start($crate::Backend::Sqlite)
                    .await
                    .expect("sqlite is always available");
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some($x) = $start($crate::Backend::Postgres).await else {
                    return;
                };
                $body
            }
        }
    };
}

/// A plain HTTP client for tests, built like Airlock's own (rustls, `AIRLOCK_CA_CERT`).
pub fn http_client() -> reqwest::Client {
    airlock_process::http::client_builder()
        .unwrap_or_else(|e| panic!("an HTTP client: {e}"))
        .build()
        .unwrap_or_else(|e| panic!("an HTTP client: {e}"))
}
