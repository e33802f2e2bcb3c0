//! Pure scheduling decisions: trigger rules over upstream states, and retry delays.

use airlock_protocol::dag::TriggerRule;
use airlock_protocol::state::TaskInstanceState;

/// Longest wait before a retry, whatever the settings (as in Airflow).
pub const MAX_RETRY_DELAY_SECS: f64 = 24.0 * 3600.0;

/// The states of the upstream task instances of one task instance, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpstreamCounts {
    /// Upstream task instances (removed ones are not counted).
    pub total: usize,
    /// Succeeded.
    pub success: usize,
    /// Skipped.
    pub skipped: usize,
    /// Failed or upstream_failed.
    pub failed: usize,
}

impl UpstreamCounts {
    /// Counts one upstream task instance in `state`.
    pub fn add(&mut self, state: Option<TaskInstanceState>) {
        use TaskInstanceState as S;
        match state {
            Some(S::Removed) => return,
            Some(S::Success) => self.success += 1,
            Some(S::Skipped) => self.skipped += 1,
            Some(S::Failed | S::UpstreamFailed) => self.failed += 1,
            _ => {}
        }
        self.total += 1;
    }

    fn done(&self) -> usize {
        self.success + self.skipped + self.failed
    }

    fn all_done(&self) -> bool {
        self.done() == self.total
    }
}

/// What to do with a task instance that has no state yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Its upstreams are not far enough yet.
    Wait,
    /// Run it.
    Schedule,
    /// Its rule can no longer be met because upstreams were skipped.
    Skip,
    /// Its rule can no longer be met because upstreams failed.
    UpstreamFailed,
}

/// Applies `rule` to the upstream states `c`, deciding as early as the outcome is certain.
pub fn evaluate(rule: TriggerRule, c: UpstreamCounts) -> Decision {
    use Decision::*;
    if c.total == 0 {
        return Schedule;
    }
    match rule {
        TriggerRule::AllSuccess => {
            if c.failed > 0 {
                UpstreamFailed
            } else if c.skipped > 0 {
                Skip
            } else if c.success == c.total {
                Schedule
            } else {
                Wait
            }
        }
        TriggerRule::AllFailed => {
            if c.success + c.skipped > 0 {
                Skip
            } else if c.failed == c.total {
                Schedule
            } else {
                Wait
            }
        }
        TriggerRule::AllDone => {
            if c.all_done() {
                Schedule
            } else {
                Wait
            }
        }
        TriggerRule::OneSuccess => {
            if c.success > 0 {
                Schedule
            } else if !c.all_done() {
                Wait
            } else if c.failed > 0 {
                UpstreamFailed
            } else {
                Skip
            }
        }
        TriggerRule::OneFailed => {
            if c.failed > 0 {
                Schedule
            } else if c.all_done() {
                Skip
            } else {
                Wait
            }
        }
        TriggerRule::NoneFailed => {
            if c.failed > 0 {
                UpstreamFailed
            } else if c.all_done() {
                Schedule
            } else {
                Wait
            }
        }
        TriggerRule::NoneSkipped => {
            if c.skipped > 0 {
                Skip
            } else if c.all_done() {
                Schedule
            } else {
                Wait
            }
        }
        TriggerRule::Always => Schedule,
    }
}

/// Seconds to wait before try `failed_try + 1`: the task's override if it gave one, else
/// `retry_delay`, doubled per earlier try with exponential backoff, capped at
/// `max_retry_delay` and at [`MAX_RETRY_DELAY_SECS`].
pub fn retry_delay_secs(
    retry_delay: f64,
    exponential: bool,
    max_retry_delay: Option<f64>,
    override_secs: Option<f64>,
    failed_try: i64,
) -> f64 {
    let cap = max_retry_delay
        .filter(|m| m.is_finite() && *m >= 0.0)
        .map_or(MAX_RETRY_DELAY_SECS, |m| m.min(MAX_RETRY_DELAY_SECS));
    let clean = |d: f64| if d.is_finite() { d.max(0.0) } else { 0.0 };
    if let Some(o) = override_secs {
        return clean(o).min(MAX_RETRY_DELAY_SECS);
    }
    let base = clean(retry_delay);
    let delay = if exponential {
        let doublings = (failed_try - 1).clamp(0, 60) as i32;
        base * 2f64.powi(doublings)
    } else {
        base
    };
    delay.min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;
    use TaskInstanceState as S;

    fn counts(states: &[Option<S>]) -> UpstreamCounts {
        let mut c = UpstreamCounts::default();
        states.iter().for_each(|s| c.add(*s));
        c
    }

    #[test]
    fn every_rule_against_every_upstream_mix() {
        let ok = Some(S::Success);
        let fail = Some(S::Failed);
        let skip = Some(S::Skipped);
        let run = Some(S::Running);
        let upf = Some(S::UpstreamFailed);
        use TriggerRule as R;
        let table: &[(R, &[Option<S>], Decision)] = &[
            (R::AllSuccess, &[ok, ok], Schedule),
            (R::AllSuccess, &[ok, run], Wait),
            (R::AllSuccess, &[ok, fail], UpstreamFailed),
            (R::AllSuccess, &[run, upf], UpstreamFailed),
            (R::AllSuccess, &[ok, skip], Skip),
            (R::AllFailed, &[fail, upf], Schedule),
            (R::AllFailed, &[fail, run], Wait),
            (R::AllFailed, &[fail, ok], Skip),
            (R::AllDone, &[ok, fail, skip], Schedule),
            (R::AllDone, &[ok, None], Wait),
            (R::OneSuccess, &[run, ok], Schedule),
            (R::OneSuccess, &[fail, run], Wait),
            (R::OneSuccess, &[fail, skip], UpstreamFailed),
            (R::OneSuccess, &[skip, skip], Skip),
            (R::OneFailed, &[run, fail], Schedule),
            (R::OneFailed, &[ok, run], Wait),
            (R::OneFailed, &[ok, skip], Skip),
            (R::NoneFailed, &[ok, skip], Schedule),
            (R::NoneFailed, &[ok, run], Wait),
            (R::NoneFailed, &[upf, run], UpstreamFailed),
            (R::NoneSkipped, &[ok, fail], Schedule),
            (R::NoneSkipped, &[ok, run], Wait),
            (R::NoneSkipped, &[skip, run], Skip),
            (R::Always, &[run, None], Schedule),
        ];
        for (rule, ups, want) in table {
            assert_eq!(evaluate(*rule, counts(ups)), *want, "{rule:?} over {ups:?}");
        }
        for rule in TriggerRule::ALL {
            assert_eq!(
                evaluate(*rule, counts(&[])),
                Schedule,
                "{rule:?} without upstreams"
            );
        }
        // Removed upstreams do not count.
        assert_eq!(
            evaluate(R::AllSuccess, counts(&[ok, Some(S::Removed)])),
            Schedule
        );
    }

    #[test]
    fn retry_delays() {
        assert_eq!(retry_delay_secs(10.0, false, None, None, 3), 10.0);
        assert_eq!(retry_delay_secs(10.0, true, None, None, 1), 10.0);
        assert_eq!(retry_delay_secs(10.0, true, None, None, 3), 40.0);
        assert_eq!(retry_delay_secs(10.0, true, Some(25.0), None, 3), 25.0);
        assert_eq!(retry_delay_secs(10.0, true, Some(25.0), Some(2.0), 3), 2.0);
        assert_eq!(
            retry_delay_secs(10.0, true, None, None, 1000),
            MAX_RETRY_DELAY_SECS
        );
        assert_eq!(retry_delay_secs(f64::NAN, false, None, None, 1), 0.0);
        assert_eq!(retry_delay_secs(-5.0, false, None, Some(-1.0), 1), 0.0);
    }
}
