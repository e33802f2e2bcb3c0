//! Class path → trigger factory.

use std::collections::HashMap;
use std::sync::Arc;

use airlock_protocol::api::JsonObject;

use crate::builtin;
use crate::trigger::{Built, TriggerError, TriggerFactory};

/// The triggers a triggerer build knows.
#[derive(Clone, Default)]
pub struct TriggerRegistry {
    factories: HashMap<String, Arc<dyn TriggerFactory>>,
}

impl TriggerRegistry {
    /// An empty registry.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The built-in triggers: Airflow's `DateTimeTrigger` (and `TimeDeltaTrigger`),
    /// `FileTrigger`, the testing `SuccessTrigger`/`FailureTrigger`, and Airlock's HTTP poll.
    pub fn with_builtins() -> Self {
        let mut r = Self::empty();
        builtin::register(&mut r);
        r
    }

    /// Adds (or replaces) the factory of `classpath`.
    pub fn register(
        &mut self,
        classpath: impl Into<String>,
        factory: impl TriggerFactory,
    ) -> &mut Self {
        self.factories.insert(classpath.into(), Arc::new(factory));
        self
    }

    /// The class paths known.
    pub fn classpaths(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.factories.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Builds the trigger for `classpath` from `kwargs`. A factory that panics fails this
    /// trigger only.
    pub fn build(&self, classpath: &str, kwargs: &JsonObject) -> Result<Built, TriggerError> {
        let factory = self.factories.get(classpath).ok_or_else(|| {
            TriggerError::new(format!(
                "unknown trigger class path {classpath:?}: this triggerer does not run it"
            ))
        })?;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| factory.build(kwargs)))
            .unwrap_or_else(|panic| {
                Err(TriggerError::new(format!(
                    "building the trigger panicked: {}",
                    crate::trigger::panic_message(panic.as_ref())
                )))
            })
    }
}
