//! Airlock task-runner (filled in by a later issue).
