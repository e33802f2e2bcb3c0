#!/usr/bin/env bash
# Creates (or refreshes) the virtualenv of the interop suite in .venv: Apache Airflow's task SDK
# 1.3.2 and pytest. Idempotent: reinstalls only when tests/python/requirements.txt changes.
set -euo pipefail
cd "$(dirname "$0")/.."
req=tests/python/requirements.txt
stamp=.venv/.requirements-installed
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
if [ ! -f "$stamp" ] || ! cmp -s "$req" "$stamp"; then
    .venv/bin/pip install --quiet --disable-pip-version-check -r "$req"
    cp "$req" "$stamp"
fi
