//! An API server running in this process on `127.0.0.1:0`, over a throwaway database.

use std::sync::Arc;

use airlock_api_server::Server;
use airlock_api_server::admin::{self, CreatedRun, RunSpec};
use airlock_api_server::auth::{Scope, TokenAuthority};
use airlock_api_server::config::{AuthArgs, DatabaseArgs, SchedulerArgs, ServeArgs, TriggerArgs};
use airlock_api_server::state::AppState;
use reqwest::Method;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::db::{Backend, TestDatabase};

/// A running API server and a client for it.
pub struct TestApi {
    /// `http://127.0.0.1:<port>/execution`.
    pub base: String,
    /// HTTP client.
    pub http: reqwest::Client,
    /// The server's state (database, token authority), for seeding and checking.
    pub state: AppState,
    /// The arguments it was started with.
    pub args: ServeArgs,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// Responses that did not match the committed OpenAPI document (checked when dropped).
    pub violations: crate::contract::Violations,
    /// The database (dropped after the server).
    pub database: TestDatabase,
}

/// Default serve arguments for a test over `db`.
pub fn serve_args(db: &TestDatabase) -> ServeArgs {
    ServeArgs {
        db: DatabaseArgs {
            home: db.dir.path().join("home"),
            database_url: Some(db.url().to_owned()),
            db_max_connections: 16,
        },
        auth: AuthArgs {
            jwt_secret: Some("test-secret-that-is-long-enough-for-hs512-000000".into()),
            jwt_private_key: None,
            jwt_audience: vec!["urn:airflow.apache.org:task".into()],
            jwt_issuer: None,
            jwt_expiration: 600,
            workload_token_expiration: 3600,
        },
        bind: "127.0.0.1:0".parse().expect("addr"),
        max_body_bytes: 64 * 1024,
        triggers: TriggerArgs::default(),
        // The API on its own, as an API-only replica serves it: tests move state by hand (and
        // run passes with `schedule`) without a scheduler service moving it under them. Tests of
        // the service start it (`no_scheduler = false`).
        scheduler: SchedulerArgs {
            no_scheduler: true,
            ..SchedulerArgs::default()
        },
        log_dir: None,
        connections: Default::default(),
        secrets: Default::default(),
        ui: Default::default(),
        tls: Default::default(),
    }
}

impl TestApi {
    /// Starts a server on `backend`; `None` if that backend is not available here.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts a server on `backend` after letting `tweak` adjust the arguments.
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut ServeArgs)) -> Option<Self> {
        init_logging();
        let database = TestDatabase::create(backend).await?;
        let mut args = serve_args(&database);
        tweak(&mut args);
        let server = Server::build(&args).await.expect("server builds");
        let state = server.state().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let violations = crate::contract::Violations::default();
        let app = crate::contract::record(server.router(), violations.clone());
        let task = tokio::spawn(server.serve_router(app, listener, async move {
            let _ = rx.await;
        }));
        Some(Self {
            base: format!("http://{addr}/execution"),
            http: crate::http_client(),
            state,
            args,
            shutdown: Some(tx),
            task: Some(task),
            violations,
            database,
        })
    }

    /// Runs one scheduling pass now, as the server's scheduler service would (its own passes
    /// go on beside; passes are safe side by side), so a test sees its effect at once.
    pub async fn schedule(&self) -> airlock_scheduler::PassReport {
        airlock_scheduler::schedule(
            &self.state.db,
            &self.args.scheduler.settings(),
            airlock_store::now(),
        )
        .await
        .expect("scheduling pass")
    }

    /// The token authority.
    pub fn tokens(&self) -> &Arc<TokenAuthority> {
        &self.state.tokens
    }

    /// An execution token for `ti`.
    pub fn token(&self, ti: Uuid) -> String {
        self.state.tokens.issue(ti, Scope::Execution, None)
    }

    /// A workload token for `ti`.
    pub fn workload_token(&self, ti: Uuid) -> String {
        self.state.tokens.issue(ti, Scope::Workload, None)
    }

    /// Creates a DAG run with queued task instances, as `api-server admin create-run` does.
    pub async fn seed(&self, spec: serde_json::Value) -> CreatedRun {
        let spec: RunSpec = serde_json::from_value(spec).expect("run spec");
        admin::create_run(&self.state.db, &spec, airlock_store::now())
            .await
            .expect("seed run")
    }

    /// A request to `path` (relative to `/execution`), authorised as `ti` if given.
    pub fn req(&self, method: Method, path: &str, ti: Option<Uuid>) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(ti) = ti {
            r = r.bearer_auth(self.token(ti));
        }
        r
    }

    /// Stops the server, waiting for in-flight requests.
    pub async fn stop(mut self) {
        self.stop_inner().await;
    }

    async fn stop_inner(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestApi {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
        // Every response the test provoked must be what the document says.
        if !std::thread::panicking()
            && let Ok(v) = self.violations.lock()
        {
            assert!(
                v.is_empty(),
                "responses that break openapi/execution-api.json:\n  {}",
                v.join("\n  ")
            );
        }
    }
}

/// Sends server logs (warnings and errors by default, `RUST_LOG` to change) to the test output.
pub fn init_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter =
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}
