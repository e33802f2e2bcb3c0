//! The one retry policy of every Airlock component that retries: exponential backoff
//! with jitter, bounded by an outage budget of wall time. Runner requests, heartbeats, final
//! reports, triggerer claims and reports, executor ticks and the CLI's waits all ride out an API
//! or database outage of up to the budget ([`DEFAULT_OUTAGE_BUDGET`] unless configured); the
//! scheduler spaces passes that failed with it.
//!
//! `backon` generates the delays; the budget is measured here in wall time (attempts included),
//! which backon's own total only counts in sleep time.

use std::time::Duration;

use backon::BackoffBuilder;
use tokio::time::Instant;

/// How long a component keeps retrying through an outage by default.
pub const DEFAULT_OUTAGE_BUDGET: Duration = Duration::from_secs(90);

/// How long to keep retrying, and how fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wall time after the first failure beyond which no further attempt is made.
    pub budget: Duration,
    /// The first delay (then doubled, with jitter).
    pub first_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// Retries through an outage of up to `budget`.
    pub const fn outage(budget: Duration) -> Self {
        Self {
            budget,
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }

    /// Never gives up (for loops that must go on until told to stop: claims, outcome reports).
    pub const fn forever() -> Self {
        Self::outage(Duration::MAX)
    }

    /// One attempt only (for calls that repeat anyway, such as heartbeats).
    pub const fn once() -> Self {
        Self::outage(Duration::ZERO)
    }

    /// A fresh sequence of delays; its budget starts now.
    pub fn start(&self) -> Backoff {
        Backoff {
            policy: *self,
            delays: self.builder().build(),
            started: Instant::now(),
        }
    }

    /// The delay before attempt `n + 1` after `n` failed attempts (`n` ≥ 1), without jitter:
    /// for retries whose count is stored rather than held in a [`Backoff`] (notifications).
    pub fn delay_after(&self, failed: u32) -> Duration {
        let doublings = failed.saturating_sub(1).min(30);
        self.first_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }

    fn builder(&self) -> backon::ExponentialBuilder {
        backon::ExponentialBuilder::new()
            .with_min_delay(self.first_delay)
            .with_max_delay(self.max_delay)
            .with_jitter()
            .without_max_times()
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::outage(DEFAULT_OUTAGE_BUDGET)
    }
}

/// Delays between attempts, until the budget is spent.
#[derive(Debug)]
pub struct Backoff {
    policy: RetryPolicy,
    delays: backon::ExponentialBackoff,
    started: Instant,
}

impl Backoff {
    /// The next delay, or `None` once sleeping it would go past the budget.
    pub fn next_delay(&mut self) -> Option<Duration> {
        let delay = self.delays.next()?;
        (self.started.elapsed() + delay <= self.policy.budget).then_some(delay)
    }

    /// Sleeps the next delay; false (at once) when the budget is spent.
    pub async fn wait(&mut self) -> bool {
        match self.next_delay() {
            Some(d) => {
                tokio::time::sleep(d).await;
                true
            }
            None => false,
        }
    }

    /// How long this sequence has been going.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Starts over (after a success).
    pub fn reset(&mut self) {
        *self = self.policy.start();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_attempts_double_up_to_the_longest_delay() {
        let p = RetryPolicy {
            budget: Duration::MAX,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        };
        let delays: Vec<u64> = [1, 2, 3, 6, 7, 1000]
            .map(|n| p.delay_after(n).as_secs())
            .to_vec();
        assert_eq!(delays, [1, 2, 4, 32, 60, 60]);
    }

    #[test]
    fn delays_grow_with_jitter_and_stop_at_the_budget() {
        let policy = RetryPolicy {
            budget: Duration::from_secs(3),
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        let mut b = policy.start();
        let delays: Vec<Duration> = std::iter::from_fn(|| b.next_delay()).take(100).collect();
        assert!(delays.len() >= 3, "{delays:?}");
        assert!(delays.iter().all(|d| *d >= Duration::from_millis(100)));
        assert!(
            delays.iter().all(|d| *d <= Duration::from_secs(2)),
            "jitter at most doubles"
        );
        let mut none = RetryPolicy::once().start();
        assert_eq!(none.next_delay(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_is_wall_time() {
        let mut b = RetryPolicy::outage(Duration::from_secs(10)).start();
        let mut slept = Duration::ZERO;
        while let Some(d) = b.next_delay() {
            tokio::time::advance(d).await;
            slept += d;
        }
        assert!(
            slept <= Duration::from_secs(10) && slept >= Duration::from_secs(4),
            "{slept:?}"
        );
    }
}
