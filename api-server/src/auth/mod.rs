//! JWT authentication: who may call which route.
//!
//! Every task token names one task-instance try (`sub`) and a `scope`:
//! * `execution`: short-lived, renewed through `Refreshed-API-Token`, accepted by task routes;
//! * `workload`: given to executors, accepted only by `PATCH /run`, which answers with an
//!   execution token.
//!
//! [`TokenAuthority`] signs and checks tokens; [`layer`] validates the bearer token of every
//! request once and renews execution tokens near their end; the [`caller`] extractors let each
//! route say which scopes it accepts.

mod authority;
mod caller;
mod keys;
mod layer;

pub use authority::*;
pub use caller::*;
pub use keys::*;
pub use layer::*;
