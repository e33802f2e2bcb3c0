#!/usr/bin/env bash
# The main job on the embedded SQLite default: build Airlock, start `airlock standalone` (API
# server, triggerer, scheduler, local executor) over ./.airlock with the example bundle, run the
# example ETL DAG to completion, show the run, and stop everything.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet -p airlock-standalone -p airlock-supervisor -p airlock-examples
export AIRLOCK_HOME="${AIRLOCK_HOME:-$PWD/.airlock}"
mkdir -p "$AIRLOCK_HOME/bundles"
ln -sf "$PWD/target/debug/example-bundle" "$AIRLOCK_HOME/bundles/example-bundle"
rm -f "$AIRLOCK_HOME/standalone.url"

airlock=target/debug/airlock
"$airlock" standalone --bind 127.0.0.1:0 >"$AIRLOCK_HOME/standalone.out" 2>"$AIRLOCK_HOME/standalone.log" &
standalone=$!
trap 'kill -INT $standalone 2>/dev/null; wait $standalone 2>/dev/null || true' EXIT

for _ in $(seq 1 300); do
    if [ -s "$AIRLOCK_HOME/standalone.url" ] && "$airlock" dags list 2>/dev/null | grep -q '^etl '; then
        break
    fi
    if ! kill -0 $standalone 2>/dev/null; then
        cat "$AIRLOCK_HOME/standalone.log" >&2
        exit 1
    fi
    sleep 0.1
done
cat "$AIRLOCK_HOME/standalone.out"
echo
"$airlock" dags list
echo
status=0
# The run id is chosen here rather than read back from a table whose columns may change.
run_id="manual__$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)"
"$airlock" dags trigger etl --run-id "$run_id" --wait || status=$?
echo
"$airlock" runs show etl "$run_id"
echo
echo "Log of etl.load:"
"$airlock" tasks logs etl "$run_id" load
echo
echo "Stopping. Start it again with: AIRLOCK_HOME=$AIRLOCK_HOME $airlock standalone"
exit $status
