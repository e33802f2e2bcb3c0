#!/usr/bin/env bash
# The main job on the embedded SQLite default: serve the Task Execution API from ./.airlock.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p airlock-api-server
exec target/debug/api-server serve "$@"
