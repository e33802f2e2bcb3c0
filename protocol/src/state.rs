//! Task-instance and DAG-run states.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Error returned when a string names no known state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown state {0:?}")]
pub struct UnknownState(pub String);

// `$text` is a `tt`, not a `literal`: a `literal` fragment reaches derive macros wrapped in an
// invisible group, which serde unwraps but utoipa does not (the OpenAPI document then listed the
// Rust variant names instead of the wire values).
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:tt ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant ),+ ];

            /// The wire spelling of this value.
            pub const fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $text, )+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownState;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    other => Err(UnknownState(other.to_owned())),
                }
            }
        }
    };
}

string_enum! {
    /// Every state a task instance can be in (a task instance with no state yet is `None`).
    TaskInstanceState {
        /// The task no longer exists in the DAG.
        Removed = "removed",
        /// Dependencies are met; waiting for the executor.
        Scheduled = "scheduled",
        /// Handed to an executor; waiting for a worker to start it.
        Queued = "queued",
        /// A supervisor started it (`PATCH /run`).
        Running = "running",
        /// Finished successfully.
        Success = "success",
        /// Cleared while running; it will run again.
        Restarting = "restarting",
        /// Finished with an error and no retries left.
        Failed = "failed",
        /// Failed; will run again after its retry delay.
        UpForRetry = "up_for_retry",
        /// A sensor asked to be run again at a later date.
        UpForReschedule = "up_for_reschedule",
        /// An upstream task failed.
        UpstreamFailed = "upstream_failed",
        /// Skipped by branching or a trigger rule.
        Skipped = "skipped",
        /// Waiting for a trigger in the triggerer.
        Deferred = "deferred",
        /// Waiting for human input.
        AwaitingInput = "awaiting_input",
    }
}

impl TaskInstanceState {
    /// True for states after which a try never runs again on its own.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Success | Self::Failed | Self::Skipped | Self::UpstreamFailed | Self::Removed
        )
    }
}

string_enum! {
    /// States an operator may mark a task instance with (`airlock tasks mark`).
    MarkTaskState {
        /// Success.
        Success = "success",
        /// Failed.
        Failed = "failed",
        /// Skipped.
        Skipped = "skipped",
    }
}

impl From<MarkTaskState> for TaskInstanceState {
    fn from(s: MarkTaskState) -> Self {
        match s {
            MarkTaskState::Success => Self::Success,
            MarkTaskState::Failed => Self::Failed,
            MarkTaskState::Skipped => Self::Skipped,
        }
    }
}

string_enum! {
    /// States an operator may mark a DAG run with (`airlock runs mark`).
    MarkRunState {
        /// Success.
        Success = "success",
        /// Failed.
        Failed = "failed",
    }
}

impl From<MarkRunState> for DagRunState {
    fn from(s: MarkRunState) -> Self {
        match s {
            MarkRunState::Success => Self::Success,
            MarkRunState::Failed => Self::Failed,
        }
    }
}

string_enum! {
    /// Terminal states other than success (`TITerminalStatePayload.state`).
    TerminalStateNonSuccess {
        /// Failed.
        Failed = "failed",
        /// Skipped.
        Skipped = "skipped",
        /// Removed.
        Removed = "removed",
        /// Upstream failed.
        UpstreamFailed = "upstream_failed",
    }
}

impl From<TerminalStateNonSuccess> for TaskInstanceState {
    fn from(s: TerminalStateNonSuccess) -> Self {
        match s {
            TerminalStateNonSuccess::Failed => Self::Failed,
            TerminalStateNonSuccess::Skipped => Self::Skipped,
            TerminalStateNonSuccess::Removed => Self::Removed,
            TerminalStateNonSuccess::UpstreamFailed => Self::UpstreamFailed,
        }
    }
}

string_enum! {
    /// States a task may name in `TITargetStatePayload` (accepted by the schema, refused by Airlock).
    IntermediateTIState {
        /// Scheduled.
        Scheduled = "scheduled",
        /// Queued.
        Queued = "queued",
        /// Restarting.
        Restarting = "restarting",
        /// Up for retry.
        UpForRetry = "up_for_retry",
        /// Up for reschedule.
        UpForReschedule = "up_for_reschedule",
        /// Deferred.
        Deferred = "deferred",
        /// Awaiting input.
        AwaitingInput = "awaiting_input",
    }
}

string_enum! {
    /// States of a DAG run.
    DagRunState {
        /// Created, not started.
        Queued = "queued",
        /// At least one task is active.
        Running = "running",
        /// Every leaf succeeded (or was skipped).
        Success = "success",
        /// A leaf failed.
        Failed = "failed",
    }
}

impl DagRunState {
    /// True once the run is finished.
    pub const fn is_finished(self) -> bool {
        matches!(self, Self::Success | Self::Failed)
    }
}

string_enum! {
    /// How a DAG run came to be.
    DagRunType {
        /// A backfill.
        Backfill = "backfill",
        /// Created by the scheduler on the DAG's schedule.
        Scheduled = "scheduled",
        /// Triggered by a person or the CLI.
        Manual = "manual",
        /// Triggered by a task (`TriggerDagRun`).
        OperatorTriggered = "operator_triggered",
        /// Triggered by an asset event.
        AssetTriggered = "asset_triggered",
        /// Created to materialize an asset.
        AssetMaterialization = "asset_materialization",
    }
}

string_enum! {
    /// What a web-UI user may do; each role may do everything the one before it may.
    UiRole {
        /// Reads everything but Variables, Connections and users.
        Viewer = "viewer",
        /// A viewer who may also trigger, clear, mark, cancel and pause.
        Operator = "operator",
        /// An operator who may also manage Variables, Connections and users.
        Admin = "admin",
    }
}

impl UiRole {
    /// Whether this role may do what `needed` may.
    pub const fn includes(self, needed: UiRole) -> bool {
        self as u8 >= needed as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_state_through_its_wire_name() {
        for s in TaskInstanceState::ALL {
            assert_eq!(s.as_str().parse::<TaskInstanceState>().unwrap(), *s);
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert!("bogus".parse::<TaskInstanceState>().is_err());
    }

    #[test]
    fn terminal_states_are_the_five_of_the_reference() {
        let terminal: Vec<_> = TaskInstanceState::ALL
            .iter()
            .filter(|s| s.is_terminal())
            .map(|s| s.as_str())
            .collect();
        assert_eq!(
            terminal,
            ["removed", "success", "failed", "upstream_failed", "skipped"]
        );
    }
}
