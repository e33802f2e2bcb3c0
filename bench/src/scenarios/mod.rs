//! One module per scenario; each returns a report section.

pub mod api_load;
pub mod cluster;
pub mod comms;
pub mod per_task;
pub mod schedules;
pub mod standalone;
pub mod triggerer;
pub mod ui;
