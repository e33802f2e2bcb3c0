//! The scheduler driven directly against a store, no HTTP: each test creates a store on both
//! backends, moves task instances as a supervisor would (through the store functions the API
//! calls) and runs passes at chosen moments, so time-based rules are checked without waiting.

mod common;
mod passes;
mod schedules;
