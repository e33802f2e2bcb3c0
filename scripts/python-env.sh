#!/usr/bin/env bash
# Creates (or refreshes) the virtualenv of the interop suite in .venv: Apache Airflow's task SDK
# 1.3.2 and pytest. Idempotent: reinstalls only when tests/python/requirements.txt or the
# interpreter changes.
#
# The interpreter is the system's (/usr/bin/python3) when there is one: task code may run as
# another user (`nobody` when Airlock runs as root) who must be able to execute it, which a
# per-user install (pyenv under /root) does not allow. PYTHON overrides the choice.
set -euo pipefail
cd "$(dirname "$0")/.."
req=tests/python/requirements.txt
stamp=.venv/.requirements-installed
python=${PYTHON:-}
if [ -z "$python" ]; then
    if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null; then
        python=/usr/bin/python3
    else
        python=python3
    fi
fi
want=$(readlink -f "$(command -v "$python")")
if [ -e .venv/bin/python ] && [ "$(readlink -f .venv/bin/python)" != "$want" ]; then
    echo "python-env: recreating .venv with $want" >&2
    rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
if [ ! -f "$stamp" ] || ! cmp -s "$req" "$stamp"; then
    .venv/bin/pip install --quiet --disable-pip-version-check -r "$req"
    cp "$req" "$stamp"
fi
