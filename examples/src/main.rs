//! The example bundle: DAGs that show what tasks can do. Put the executable in the bundles
//! directory as `example-bundle`; `airlock standalone` registers its DAGs and runs them.
//! `example-bundle job-server` is the stand-in external service of the `external_job` DAG.

mod etl;
mod external;
mod fanout;
mod job_server;
mod waiting;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("job-server") {
        return job_server::main(&args[2..]);
    }
    airlock_sdk::Bundle::new("example-bundle")
        .dag(etl::etl())
        .dag(etl::flaky())
        .dag(etl::broken())
        .dag(fanout::fan_out())
        .dag(external::external_job())
        .dag(waiting::wait_for_time())
        .main()
}
