//! Airlock sdk (filled in by a later issue).
