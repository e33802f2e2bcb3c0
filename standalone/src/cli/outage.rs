//! Commands that follow something (`dags trigger --wait`, `tasks logs --follow`) ride out an API
//! restart or outage of up to `--max-outage`, saying so on stderr, instead of giving up at the
//! first failed call.

use std::time::Duration;

use airlock_api_client::{Backoff, ClientError, RetryPolicy};

/// How long followers keep trying when the API is away, unless `--max-outage` says otherwise.
pub const DEFAULT_MAX_OUTAGE: &str = "5m";

/// Tracks one outage: when it began, and whether the user was told.
pub struct Outage {
    budget: Duration,
    current: Option<Backoff>,
}

impl Outage {
    /// Rides out outages of up to `budget`.
    pub fn new(budget: Duration) -> Self {
        Self {
            budget,
            current: None,
        }
    }

    /// After a failed call: waits and returns `Ok` to try again, or gives the error back when it
    /// is not an outage (a 4xx) or the outage has lasted longer than the budget.
    pub async fn ride_out(&mut self, e: ClientError) -> Result<(), ClientError> {
        if !e.is_retryable() {
            return Err(e);
        }
        let budget = self.budget;
        let backoff = self.current.get_or_insert_with(|| {
            eprintln!(
                "The API cannot be reached ({e}); trying again for up to {}.",
                humantime::format_duration(budget)
            );
            RetryPolicy::outage(budget).start()
        });
        if backoff.wait().await {
            Ok(())
        } else {
            eprintln!(
                "The API has been unreachable for {}; giving up.",
                humantime::format_duration(Duration::from_secs(backoff.elapsed().as_secs()))
            );
            Err(e)
        }
    }

    /// After a successful call: an outage in progress is over.
    pub fn ended(&mut self) {
        if let Some(b) = self.current.take() {
            eprintln!(
                "The API is back (after {}).",
                humantime::format_duration(Duration::from_secs(b.elapsed().as_secs()))
            );
        }
    }
}
