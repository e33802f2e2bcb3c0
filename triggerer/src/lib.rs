//! Airlock triggerer (filled in by a later issue).
