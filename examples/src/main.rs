//! The example bundle: DAGs that show what tasks can do. Build it, put the executable in the
//! bundles directory as `example-bundle`, and `supervisor run` its task instances.

mod etl;
mod waiting;

use std::process::ExitCode;

fn main() -> ExitCode {
    airlock_sdk::Bundle::new("example-bundle")
        .dag(etl::etl())
        .dag(etl::flaky())
        .dag(etl::broken())
        .dag(waiting::wait_for_time())
        .main()
}
