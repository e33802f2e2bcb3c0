//! Deciding, exactly once, how a try ended and what to tell the server.

use std::process::ExitStatus;

use airlock_protocol::api::{
    TIRetryStatePayload, TIStatePayload, TITerminalStatePayload, UpForRetryLiteral,
};
use airlock_protocol::state::{TaskInstanceState, TerminalStateNonSuccess};
use chrono::{DateTime, Utc};

/// How the supervisor ended, as its exit code tells the executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Success, skipped or removed.
    Done(TaskInstanceState),
    /// Deferred to a trigger, rescheduled or waiting for input: it will resume later.
    Parked(TaskInstanceState),
    /// Failed, no retries left.
    Failed,
    /// Failed, will be retried.
    UpForRetry,
    /// The server said the try must stop (cleared, running elsewhere, retried); nothing reported.
    Stopped,
    /// The try ended but its final state could not be reported.
    Unreported,
}

impl Outcome {
    /// The process exit code for this outcome (documented in the README).
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Done(_) | Outcome::Parked(_) => 0,
            Outcome::Failed => 1,
            Outcome::UpForRetry => 2,
            Outcome::Stopped => 3,
            Outcome::Unreported => 6,
        }
    }

    /// The outcome of a state the server accepted.
    pub fn of_state(state: TaskInstanceState) -> Self {
        use TaskInstanceState as S;
        match state {
            S::Success | S::Skipped | S::Removed => Outcome::Done(state),
            S::Deferred | S::UpForReschedule | S::AwaitingInput => Outcome::Parked(state),
            S::UpForRetry => Outcome::UpForRetry,
            _ => Outcome::Failed,
        }
    }
}

/// As task logs show it: a state's wire name (`success`, `up_for_retry`), as every other
/// Airlock and Airflow tool spells it.
impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Done(s) | Outcome::Parked(s) => f.write_str(s.as_str()),
            Outcome::Failed => f.write_str("failed"),
            Outcome::UpForRetry => f.write_str("up_for_retry"),
            Outcome::Stopped => f.write_str("stopped (the server ended the try)"),
            Outcome::Unreported => f.write_str("unreported (its state could not be reported)"),
        }
    }
}

/// Why the supervisor stopped the runner itself.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    /// The server answered a heartbeat with 404/409/410.
    ServerSaysStop(String),
    /// Too many heartbeats failed in a row.
    HeartbeatsFailed(std::time::Duration),
    /// `execution_timeout` passed.
    Timeout(f64),
    /// The runner broke the protocol (a malformed or oversized frame).
    ProtocolViolation(String),
    /// The supervisor itself was asked to stop (SIGTERM/SIGINT).
    Signalled(i32),
    /// The runner lived on too long after reporting its outcome.
    Overtime,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::ServerSaysStop(why) => {
                write!(f, "the server says the try must stop: {why}")
            }
            StopReason::HeartbeatsFailed(d) => {
                write!(f, "heartbeats failed for {} s", d.as_secs())
            }
            StopReason::Timeout(secs) => write!(f, "execution_timeout of {secs} s passed"),
            StopReason::ProtocolViolation(why) => write!(f, "the runner broke the protocol: {why}"),
            StopReason::Signalled(sig) => write!(f, "the supervisor got signal {sig}"),
            StopReason::Overtime => f.write_str("the runner lived on too long after its report"),
        }
    }
}

/// What the runner reported and how that report fared.
#[derive(Debug, Default, Clone)]
pub struct TryState {
    /// A terminal state the server has accepted.
    pub reported: Option<TaskInstanceState>,
    /// A terminal report whose API call failed, to replay once at exit.
    pub pending: Option<TIStatePayload>,
    /// `TaskState` (failed/skipped/removed), reported at exit.
    pub final_state: Option<(TerminalStateNonSuccess, Option<DateTime<Utc>>)>,
    /// The last rendered map index the runner set.
    pub rendered_map_index: Option<String>,
    /// Why the supervisor stopped the runner, if it did.
    pub stopped: Option<StopReason>,
}

impl TryState {
    /// Takes what answering a request changed (`answered` started as a copy of this state);
    /// the supervisor's own decisions (`stopped`) made meanwhile are kept.
    pub fn absorb(&mut self, answered: TryState) {
        let stopped = self.stopped.take();
        *self = TryState {
            stopped: stopped.or(answered.stopped.clone()),
            ..answered
        };
    }

    /// Whether the runner has said how it ended (heartbeats stop then, as in Airflow).
    pub fn has_terminal(&self) -> bool {
        self.reported.is_some() || self.pending.is_some() || self.final_state.is_some()
    }
}

/// What to do once the runner is gone.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The state call to make, if any.
    pub report: Option<TIStatePayload>,
    /// The outcome if that call succeeds (or when there is none).
    pub outcome: Outcome,
    /// Why, for the log.
    pub reason: String,
}

fn describe_exit(status: Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(s) if s.code().is_some() => format!(
            "the runner exited with code {}",
            s.code().unwrap_or_default()
        ),
        Some(s) => match s.signal() {
            Some(9) => {
                "the runner was killed by SIGKILL (out of memory, or killed by the supervisor)"
                    .into()
            }
            Some(11) => "the runner crashed (SIGSEGV)".into(),
            Some(sig) => format!("the runner was killed by signal {sig}"),
            None => "the runner ended".into(),
        },
        None => "the runner's exit status is unknown".into(),
    }
}

/// Decides the final report from what happened (the rules are in the README).
pub fn decide(
    state: &TryState,
    exit: Option<ExitStatus>,
    should_retry: bool,
    now: DateTime<Utc>,
) -> Decision {
    if let Some(s) = state.reported {
        return Decision {
            report: None,
            outcome: Outcome::of_state(s),
            reason: format!("the runner reported {s}"),
        };
    }
    if let Some(StopReason::ServerSaysStop(why)) = &state.stopped {
        return Decision {
            report: None,
            outcome: Outcome::Stopped,
            reason: format!("the server stopped the task: {why}"),
        };
    }
    if let Some(p) = &state.pending {
        return Decision {
            report: Some(p.clone()),
            outcome: Outcome::of_state(p.target_state()),
            reason: format!("replaying the runner's {} report", p.target_state()),
        };
    }
    if let Some((s, end)) = state.final_state {
        return Decision {
            report: Some(TIStatePayload::Terminal(TITerminalStatePayload {
                state: s,
                end_date: end.unwrap_or(now),
                rendered_map_index: state.rendered_map_index.clone(),
            })),
            outcome: Outcome::of_state(s.into()),
            reason: format!("the runner reported {s}"),
        };
    }
    let why = match &state.stopped {
        Some(StopReason::Timeout(secs)) => {
            format!("execution timeout: the task ran longer than {secs}s")
        }
        Some(StopReason::HeartbeatsFailed(d)) => format!(
            "heartbeats failed for {}s (the outage budget); the task was stopped",
            d.as_secs()
        ),
        Some(StopReason::ProtocolViolation(e)) => format!("the runner broke the protocol: {e}"),
        Some(StopReason::Signalled(sig)) => {
            format!("the supervisor received signal {sig} and stopped the task")
        }
        Some(StopReason::Overtime) => "the runner did not exit after finishing".into(),
        Some(StopReason::ServerSaysStop(_)) => unreachable!("handled above"),
        None if exit.is_some_and(|s| s.success()) => {
            "the runner exited without reporting an outcome".into()
        }
        None => describe_exit(exit),
    };
    let report = if should_retry {
        TIStatePayload::Retry(TIRetryStatePayload {
            state: UpForRetryLiteral::Value,
            end_date: now,
            rendered_map_index: state.rendered_map_index.clone(),
            retry_delay_seconds: None,
            retry_reason: Some(why.clone()),
        })
    } else {
        TIStatePayload::Terminal(TITerminalStatePayload {
            state: TerminalStateNonSuccess::Failed,
            end_date: now,
            rendered_map_index: state.rendered_map_index.clone(),
        })
    };
    let outcome = if should_retry {
        Outcome::UpForRetry
    } else {
        Outcome::Failed
    };
    Decision {
        report: Some(report),
        outcome,
        reason: why,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    fn exit(code: i32) -> Option<ExitStatus> {
        Some(ExitStatus::from_raw(code << 8))
    }

    fn signalled(sig: i32) -> Option<ExitStatus> {
        Some(ExitStatus::from_raw(sig))
    }

    #[test]
    fn runner_death_fails_or_retries_and_is_always_reported() {
        let now = Utc::now();
        let s = TryState::default();
        let d = decide(&s, exit(1), false, now);
        assert_eq!(d.outcome, Outcome::Failed);
        assert!(
            matches!(d.report, Some(TIStatePayload::Terminal(ref t)) if t.state == TerminalStateNonSuccess::Failed)
        );
        let d = decide(&s, signalled(9), true, now);
        assert_eq!(d.outcome, Outcome::UpForRetry);
        assert!(d.reason.contains("SIGKILL"));
        assert!(matches!(d.report, Some(TIStatePayload::Retry(_))));
        let d = decide(&s, exit(0), false, now);
        assert!(
            d.reason.contains("without reporting"),
            "exit 0 without a report is a failure, not a silent success"
        );
    }

    #[test]
    fn accepted_reports_win_then_server_stops_then_the_rest() {
        let now = Utc::now();
        let mut s = TryState {
            reported: Some(TaskInstanceState::Success),
            ..Default::default()
        };
        assert_eq!(
            decide(&s, exit(3), true, now),
            Decision {
                report: None,
                outcome: Outcome::Done(TaskInstanceState::Success),
                reason: "the runner reported success".into()
            }
        );
        s.stopped = Some(StopReason::ServerSaysStop("410".into()));
        assert_eq!(
            decide(&s, signalled(9), true, now).outcome,
            Outcome::Done(TaskInstanceState::Success),
            "an accepted report stands"
        );
        s.reported = None;
        assert_eq!(
            decide(&s, signalled(9), true, now).outcome,
            Outcome::Stopped
        );
        let s = TryState {
            final_state: Some((TerminalStateNonSuccess::Skipped, None)),
            ..Default::default()
        };
        let d = decide(&s, exit(0), true, now);
        assert_eq!(d.outcome, Outcome::Done(TaskInstanceState::Skipped));
        let s = TryState {
            stopped: Some(StopReason::Timeout(2.0)),
            ..Default::default()
        };
        assert!(
            decide(&s, signalled(9), false, now)
                .reason
                .contains("execution timeout")
        );
    }
}
