//! `airlock-bench`: every performance figure of this project, measured side by side with the
//! reference it is compared with, in one run. `make bench` builds optimised binaries and writes
//! `BENCHMARKS.md`; `--smoke` runs a seconds-long variant (CI) that proves the harness works.

mod machine;
mod procs;
mod report;
mod scenarios;
mod stats;

use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "airlock-bench",
    about = "Airlock's benchmarks, side by side with Airflow's Task SDK"
)]
struct Cli {
    /// A seconds-long variant with tiny sizes (CI): proves the harness, not the figures.
    #[arg(long)]
    smoke: bool,
    /// Where to write the Markdown report.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: std::path::PathBuf,
    /// Run only these scenarios (comms, per-task, api, triggerer, standalone, schedules, ui,
    /// cluster).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Timer counts for the triggerer scenario (default 10000,100000; smoke 200).
    #[arg(long, value_delimiter = ',')]
    timers: Vec<usize>,
    #[command(subcommand)]
    command: Option<Inner>,
}

#[derive(Subcommand)]
enum Inner {
    /// (internal) The Rust comms client: N round trips over fd 0.
    #[command(hide = true)]
    CommsClient {
        /// Round trips.
        n: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Inner::CommsClient { n }) = cli.command {
        return scenarios::comms::run_client(n);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let want = |s: &str| cli.only.is_empty() || cli.only.iter().any(|o| o == s);
    let root = tempfile::tempdir()?;
    let python = procs::python()?;
    let machine = machine::describe(&python);
    let mut sections = Vec::new();
    let smoke = cli.smoke;
    let started = std::time::Instant::now();
    let step = |name: &str| {
        eprintln!(
            "[bench {:>4.0} s] {name}...",
            started.elapsed().as_secs_f64()
        )
    };
    if want("comms") {
        step("comms round trips");
        let (n, repeats) = if smoke { (400, 1) } else { (40_000, 3) };
        sections.push(tokio::task::block_in_place(|| {
            scenarios::comms::run(n, repeats)
        })?);
    }
    if want("per-task") {
        step("per-task overhead");
        let (tasks, imports) = if smoke { (3, 1) } else { (100, 5) };
        sections.push(scenarios::per_task::run(root.path(), tasks, imports).await?);
    }
    if want("api") {
        step("API throughput");
        let secs = if smoke { 0.5 } else { 10.0 };
        sections.push(scenarios::api_load::run(root.path(), Duration::from_secs_f64(secs)).await?);
    }
    if want("triggerer") {
        step("triggerer");
        let (default, pickups): (&[usize], usize) = if smoke {
            (&[200], 5)
        } else {
            (&[10_000, 100_000], 50)
        };
        let sizes = if cli.timers.is_empty() {
            default
        } else {
            &cli.timers
        };
        sections.push(scenarios::triggerer::run(root.path(), sizes, pickups).await?);
    }
    if want("standalone") {
        step("standalone");
        let (wide, mapped, chain) = if smoke {
            (50, 20, 10)
        } else {
            (1000, 1000, 50)
        };
        sections.push(scenarios::standalone::run(root.path(), wide, mapped, chain).await?);
    }
    if want("schedules") {
        step("schedules");
        let (dags, intervals) = if smoke { (50, 20) } else { (10_000, 1000) };
        sections.push(scenarios::schedules::run(root.path(), dags, smoke, intervals).await?);
    }
    if want("ui") {
        step("web UI");
        let (tasks, runs) = if smoke { (100, 5) } else { (1000, 50) };
        sections.push(scenarios::ui::run(root.path(), tasks, runs).await?);
    }
    if want("cluster") {
        step("several workers");
        let sizes = if smoke {
            scenarios::cluster::Sizes {
                claims_per_executor: 4,
                ship_for: Duration::from_millis(300),
                wide_dag: "wide50",
            }
        } else {
            scenarios::cluster::Sizes {
                claims_per_executor: 200,
                ship_for: Duration::from_secs(10),
                wide_dag: "wide1000",
            }
        };
        sections.push(scenarios::cluster::run(root.path(), &sizes).await?);
    }
    let command = if smoke {
        "airlock-bench --smoke".to_owned()
    } else {
        "make bench".to_owned()
    };
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let md = report::markdown(&command, &date, &machine, started.elapsed(), &sections);
    std::fs::write(&cli.out, &md)?;
    println!("{md}");
    eprintln!(
        "[bench {:>4.0} s] wrote {}",
        started.elapsed().as_secs_f64(),
        cli.out.display()
    );
    Ok(())
}
