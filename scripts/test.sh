#!/usr/bin/env bash
# Runs every test: Rust unit, integration and end-to-end suites (cargo nextest), doc tests, and
# the Python interop suite that drives Airlock with Apache Airflow's own client and codec.
#
# PostgreSQL suites run when AIRLOCK_TEST_PG_URL is set (a server where the user may create
# databases); they skip with a message otherwise, and fail if AIRLOCK_TEST_REQUIRE_PG=1.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/python-env.sh
# The live progress display is tested in a real terminal (tmux), the web UI in a real headless
# browser (Chromium driven through chromedriver), several hosts in network namespaces (ip).
missing=()
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
# Several hosts on one machine: network namespaces.
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v cargo-nextest >/dev/null 2>&1; then
    cargo install --locked cargo-nextest
fi

# One build of every binary and test binary; the suites spawn the binaries from target/debug.
cargo build --workspace --bins --tests
cargo nextest run --workspace --no-fail-fast
cargo test --workspace --doc --quiet
.venv/bin/python -m pytest -q tests/python
