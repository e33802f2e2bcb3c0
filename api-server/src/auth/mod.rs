//! JWT authentication: who may call which route.
//!
//! Every task token names one task-instance try (`sub`) and a `scope`:
//! * `execution`: short-lived, renewed through `Refreshed-API-Token`, accepted by task routes;
//! * `workload`: given to executors, accepted only by `PATCH /run`, which answers with an
//!   execution token.
//!
//! The control routes also accept a web-UI session (a cookie, see [`session`]), whose user's
//! role (`viewer`, `operator`, `admin`) says which of them it may call; an `admin` token may call
//! them all.
//!
//! [`TokenAuthority`] signs and checks tokens; [`layer`] validates the bearer token of every
//! request once and renews execution tokens near their end; [`session`] looks up the session
//! cookie of a request without a token; the [`caller`] extractors let each route say which
//! scopes and roles it accepts.

mod authority;
mod caller;
mod keys;
mod layer;
pub mod session;

pub use authority::*;
pub use caller::*;
pub use keys::*;
pub use layer::*;
