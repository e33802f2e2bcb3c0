//! Airlock supervisor (filled in by a later issue).
