#!/usr/bin/env bash
# Every performance figure in one command: builds optimised binaries (profile `bench-opt`),
# installs Airflow's task SDK in .venv as the reference, runs each scenario side by side with
# it, prints the table and writes BENCHMARKS.md. Extra arguments go to the harness
# (`--only comms,per-task,api,triggerer,standalone,schedules,ui,cluster`, `--smoke`, `--out FILE`).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/python-env.sh
cargo build --profile bench-opt \
    -p airlock-bench -p airlock-api-server -p airlock-supervisor -p airlock-triggerer -p airlock-standalone
exec target/bench-opt/airlock-bench --out BENCHMARKS.md "$@"
