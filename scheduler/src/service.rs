//! The scheduler service: who runs passes, and when.
//!
//! **Leadership.** On PostgreSQL exactly one process per database leads: the one holding a
//! session-level advisory lock on a connection of its own. The others stand by and try for the
//! lock every [`STANDBY_POLL`]; when the leader dies its session ends, PostgreSQL releases the
//! lock and a standby takes over within that poll. A leader checks its connection every
//! [`LEASE_CHECK`] and steps down when it is gone. Leadership is for efficiency, not safety: two
//! processes that briefly both believe they lead (a leader whose connection died unnoticed) run
//! correct passes side by side, because each run is advanced under its row lock and admission
//! under an advisory transaction lock. On SQLite the process leads (one process owns the file).
//!
//! **When.** A pass runs when leadership is gained, on a change ([`Topic::Changed`], from this
//! process or through the relay from another), at the next due time the previous pass found,
//! and at least every idle interval. Changes made during a pass cause one more pass, however
//! many there were. After a pass that made work claimable, ticks everywhere are woken
//! ([`Topic::Work`]). A failed pass (the database is gone, busy, or restarting) is retried with
//! the common backoff and never stops the service.

use std::future::Future;
use std::time::Duration;

use airlock_process::backoff::RetryPolicy;
use airlock_store::notify::{Hub, Topic};
use airlock_store::{Backend, Db};
use sqlx::AnyConnection;
use tokio::time::Instant;

use crate::pass::{PassReport, SchedulerSettings, schedule};

/// Key of the PostgreSQL advisory lock held by the leader (`pg_locks` shows it as `classid`,
/// the high 32 bits, and `objid`, the low 32 bits).
pub const LEADER_LOCK: i64 = 0x4149_524c_4f43_4b01;

/// How often a standby tries to take the lead.
pub const STANDBY_POLL: Duration = Duration::from_secs(1);

/// How often a leader checks that it still holds the lead.
pub const LEASE_CHECK: Duration = Duration::from_secs(1);

/// Longest a lease check may take before the leader steps down.
const LEASE_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Told how each pass went: how long it took, and its report (`None`: it failed).
pub type PassObserver = std::sync::Arc<dyn Fn(Duration, Option<&PassReport>) + Send + Sync>;

/// Runs scheduling passes while it leads.
pub struct Scheduler {
    db: Db,
    hub: Hub,
    settings: SchedulerSettings,
    observer: Option<PassObserver>,
}

/// Why a leader stopped leading.
enum Stepped {
    /// Its lock connection failed: another process may lead now.
    LostLease,
    /// Told to stop.
    Shutdown,
}

impl Scheduler {
    /// A scheduler over `db`, woken through `hub`.
    pub fn new(db: Db, hub: Hub, settings: SchedulerSettings) -> Self {
        Self {
            db,
            hub,
            settings,
            observer: None,
        }
    }

    /// Tells `observer` how each pass went (metrics).
    pub fn observed_by(mut self, observer: PassObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Stands by, leads, and stands by again after losing the lead, until `shutdown` resolves.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let lease = match self.db.backend() {
                Backend::Sqlite => None,
                Backend::Postgres => {
                    tokio::select! {
                        lease = self.acquire() => Some(lease),
                        () = &mut shutdown => return,
                    }
                }
            };
            tracing::info!("scheduler leads");
            match self.lead(lease, &mut shutdown).await {
                Stepped::Shutdown => return,
                Stepped::LostLease => {
                    tracing::warn!("scheduler lost the lead (its database connection failed)");
                }
            }
        }
    }

    /// Waits until this process holds the leader lock; the connection holding it.
    async fn acquire(&self) -> AnyConnection {
        let mut conn: Option<AnyConnection> = None;
        let mut logged_standby = false;
        loop {
            if conn.is_none() {
                match self.db.pool().acquire().await {
                    // Detached: the lock lives as long as this session, never back in the pool.
                    Ok(c) => conn = Some(c.detach()),
                    Err(e) => tracing::debug!(error = %e, "standby cannot connect"),
                }
            }
            if let Some(c) = conn.as_mut() {
                match sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
                    .bind(LEADER_LOCK)
                    .fetch_one(&mut *c)
                    .await
                {
                    Ok(true) => return conn.take().expect("checked above"),
                    Ok(false) => {
                        if !logged_standby {
                            tracing::info!("scheduler stands by: another process leads");
                            logged_standby = true;
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "standby lost its connection");
                        conn = None;
                    }
                }
            }
            tokio::time::sleep(STANDBY_POLL).await;
        }
    }

    /// Runs passes until the lease fails or `shutdown` resolves.
    async fn lead(
        &self,
        mut lease: Option<AnyConnection>,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Stepped {
        let mut changes = self.hub.subscribe(Topic::Changed);
        let mut next_pass = Instant::now();
        let mut next_check = Instant::now() + LEASE_CHECK;
        let mut failures = RetryPolicy::forever().start();
        loop {
            tokio::select! {
                () = changes.changed() => {}
                () = tokio::time::sleep_until(next_pass) => {}
                () = tokio::time::sleep_until(next_check), if lease.is_some() => {
                    if let Some(conn) = lease.as_mut()
                        && !lease_holds(conn).await
                    {
                        return Stepped::LostLease;
                    }
                    next_check = Instant::now() + LEASE_CHECK;
                    continue;
                }
                () = shutdown.as_mut() => {
                    if let Some(conn) = lease {
                        // Closing the session releases the lock at once (rather than when
                        // PostgreSQL notices the process is gone).
                        let _ = sqlx::Connection::close(conn).await;
                    }
                    return Stepped::Shutdown;
                }
            }
            changes.take();
            next_pass = self.pass(&mut failures).await;
        }
    }

    /// One pass; when the next is due without a change.
    async fn pass(&self, failures: &mut airlock_process::backoff::Backoff) -> Instant {
        let started = Instant::now();
        let result = schedule(&self.db, &self.settings, airlock_store::now()).await;
        if let Some(observe) = &self.observer {
            observe(started.elapsed(), result.as_ref().ok());
        }
        match result {
            Ok(report) => {
                failures.reset();
                if report.admitted > 0 || report.requeued > 0 {
                    self.hub.publish(Topic::Work);
                }
                if report.notifications > 0 {
                    self.hub.publish(Topic::Notifications);
                }
                if report.changed() {
                    tracing::debug!(?report, elapsed = ?started.elapsed(), "pass");
                }
                let mut next = started + self.settings.idle_interval;
                if let Some(due) = report.next_due {
                    let wait = (due - airlock_store::now()).to_std().unwrap_or_default();
                    next = next.min(Instant::now() + wait);
                }
                next
            }
            Err(e) => {
                let delay = failures
                    .next_delay()
                    .unwrap_or(self.settings.idle_interval)
                    .min(self.settings.idle_interval);
                tracing::warn!(error = %e, retry_in = ?delay, "scheduling pass failed");
                Instant::now() + delay
            }
        }
    }
}

/// Whether the leader's lock connection still answers.
async fn lease_holds(conn: &mut AnyConnection) -> bool {
    let check = sqlx::query("SELECT 1").execute(&mut *conn);
    matches!(
        tokio::time::timeout(LEASE_CHECK_TIMEOUT, check).await,
        Ok(Ok(_))
    )
}
