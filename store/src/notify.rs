//! Wake-ups: who is told when something changed. One [`Hub`] per process carries them between
//! the components of that process (request handlers, the scheduler, long-polling ticks and
//! trigger claims); on PostgreSQL its [`Relay`] also carries them to and from every other
//! process on the same database through `LISTEN/NOTIFY`, so a change made through one
//! api-server replica wakes the scheduler and the waiting ticks on all of them.
//!
//! Wake-ups are hints, never the data: a woken component reads the database, and one that
//! misses a wake-up (a dropped notification, a lost listener connection) still catches up at
//! its next bounded recheck. A burst of wake-ups costs one reaction: a topic is a counter and a
//! subscriber sees only that it moved.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::Db;

/// The PostgreSQL channel every Airlock process listens on; the payload names the [`Topic`].
pub const CHANNEL: &str = "airlock";

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Something that may let the scheduler make progress (a task finished, a run was created,
    /// a DAG was unpaused, a trigger fired...). Wakes the scheduler.
    Changed,
    /// Task instances became claimable (admitted, or handed back by a dead executor). Wakes
    /// executors' ticks.
    Work,
    /// A trigger was created or freed. Wakes triggerers' claims.
    Triggers,
    /// A pass recorded notifications. Wakes the notifier.
    Notifications,
}

impl Topic {
    const ALL: [Topic; 4] = [
        Topic::Changed,
        Topic::Work,
        Topic::Triggers,
        Topic::Notifications,
    ];

    fn index(self) -> usize {
        self as usize
    }

    fn name(self) -> &'static str {
        match self {
            Topic::Changed => "changed",
            Topic::Work => "work",
            Topic::Triggers => "triggers",
            Topic::Notifications => "notifications",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// The process's wake-ups (cheap to clone).
#[derive(Clone)]
pub struct Hub(Arc<Inner>);

struct Inner {
    topics: [watch::Sender<u64>; Topic::ALL.len()],
    /// Topics published here and not yet sent to other processes (a bit per topic), on
    /// PostgreSQL.
    outbox: Option<Outbox>,
}

struct Outbox {
    pending: AtomicU8,
    ready: Notify,
}

impl Hub {
    /// A hub for `db`, and on PostgreSQL the relay that must run beside it for wake-ups to
    /// cross processes.
    pub fn new(db: &Db) -> (Self, Option<Relay>) {
        let url = db.postgres_url().map(str::to_owned);
        let hub = Self(Arc::new(Inner {
            topics: std::array::from_fn(|_| watch::channel(0).0),
            outbox: url.is_some().then(|| Outbox {
                pending: AtomicU8::new(0),
                ready: Notify::new(),
            }),
        }));
        let relay = url.map(|url| Relay {
            hub: hub.clone(),
            db: db.clone(),
            url,
        });
        (hub, relay)
    }

    /// Tells this process and (through the relay) every other one that `topic` changed.
    pub fn publish(&self, topic: Topic) {
        self.wake_here(topic);
        if let Some(outbox) = &self.0.outbox {
            outbox
                .pending
                .fetch_or(1 << topic.index(), Ordering::AcqRel);
            outbox.ready.notify_one();
        }
    }

    /// Wakes this process's subscribers of `topic` only.
    fn wake_here(&self, topic: Topic) {
        self.0.topics[topic.index()].send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A subscription that sees the changes of `topic` published after this call.
    pub fn subscribe(&self, topic: Topic) -> Subscription {
        let mut rx = self.0.topics[topic.index()].subscribe();
        rx.borrow_and_update();
        Subscription {
            rx,
            _hub: self.clone(),
        }
    }
}

/// Changes of one topic, from [`Hub::subscribe`].
pub struct Subscription {
    rx: watch::Receiver<u64>,
    /// Keeps the senders alive, so `changed` never fails.
    _hub: Hub,
}

impl Subscription {
    /// Waits until the topic changes (returns at once if it changed since the last call).
    pub async fn changed(&mut self) {
        // The hub (and so the sender) lives as long as this subscription: no error.
        let _ = self.rx.changed().await;
    }

    /// Whether the topic changed since the last call (or the subscription), marking it seen.
    pub fn take(&mut self) -> bool {
        let changed = self.rx.has_changed().unwrap_or(false);
        self.rx.borrow_and_update();
        changed
    }
}

/// Carries wake-ups between this process and the others on the same PostgreSQL database.
pub struct Relay {
    hub: Hub,
    db: Db,
    url: String,
}

/// Pause before listening again after the listener failed to connect.
const RELISTEN_DELAY: Duration = Duration::from_secs(1);

impl Relay {
    /// Sends this process's wake-ups and delivers the others' until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::select! {
            () = self.send() => {}
            () = self.listen() => {}
            () = shutdown => {}
        }
    }

    /// Sends pending topics, one `NOTIFY` per topic however many were published meanwhile.
    async fn send(&self) {
        let Some(outbox) = &self.hub.0.outbox else {
            return std::future::pending().await;
        };
        loop {
            outbox.ready.notified().await;
            let pending = outbox.pending.swap(0, Ordering::AcqRel);
            for topic in Topic::ALL {
                if pending & (1 << topic.index()) == 0 {
                    continue;
                }
                let sent = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(topic.name())
                    .execute(self.db.pool())
                    .await;
                if let Err(e) = sent {
                    // The others catch up at their next recheck.
                    tracing::debug!(error = %e, topic = topic.name(), "cannot send a wake-up");
                }
            }
        }
    }

    /// Delivers other processes' wake-ups here. Whenever the listener loses its connection
    /// every topic is woken: notifications sent while it was away are lost (and a subscriber
    /// that still misses one catches up at its recheck).
    async fn listen(&self) {
        loop {
            match sqlx::postgres::PgListener::connect(&self.url).await {
                Ok(mut listener) => {
                    if let Err(e) = listener.listen(CHANNEL).await {
                        tracing::warn!(error = %e, "cannot listen for wake-ups");
                    } else {
                        self.wake_all();
                        loop {
                            match listener.try_recv().await {
                                Ok(Some(n)) => {
                                    if let Some(topic) = Topic::from_name(n.payload()) {
                                        self.hub.wake_here(topic);
                                    }
                                }
                                // Lost; the next call reconnects and listens again.
                                Ok(None) => self.wake_all(),
                                Err(e) => {
                                    tracing::warn!(error = %e, "lost the wake-up listener");
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot listen for wake-ups"),
            }
            tokio::time::sleep(RELISTEN_DELAY).await;
        }
    }

    fn wake_all(&self) {
        for topic in Topic::ALL {
            self.hub.wake_here(topic);
        }
    }
}
