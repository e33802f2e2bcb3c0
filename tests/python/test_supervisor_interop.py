"""Airlock's supervisor starting a runner written with Airflow's own codec (CommsDecoder,
_RequestFrame/_ResponseFrame and the message models of task SDK 1.3.2)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import urllib.request

from conftest import BIN_DIR

HERE = os.path.dirname(os.path.abspath(__file__))


def _xcom(airlock, token: str, dag_id: str, run_id: str, task_id: str, key: str):
    req = urllib.request.Request(
        f"{airlock.base_url}xcoms/{dag_id}/{run_id}/{task_id}/{key}",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())["value"]


def test_airflow_codec_runner_under_airlock_supervisor(airlock, tmp_path):
    bundles = tmp_path / "bundles"
    bundles.mkdir()
    runner = bundles / "airflow-python-runner"
    runner.write_text(f"#!{sys.executable}\n" + open(os.path.join(HERE, "airflow_runner.py")).read())
    runner.chmod(runner.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    airlock.admin("set-variable", "greeting", "hello from airlock")
    tis = airlock.create_run(
        {
            "dag_id": "py",
            "run_id": "interop",
            "bundle_name": "airflow-python-runner",
            "relative_fileloc": "dags/py.py",
            "tasks": [{"task_id": "airflow_codec"}],
        }
    )
    ti = tis["airflow_codec"]
    env = {
        "PATH": os.environ["PATH"],
        "AIRLOCK_TOKEN": airlock.token(ti, "workload"),
        "AIRLOCK_API_URL": airlock.base_url.rstrip("/"),
        "AIRLOCK_BUNDLES_DIR": str(bundles),
        "AIRLOCK_LOG_DIR": str(tmp_path / "logs"),
        "AIRLOCK_HEARTBEAT_INTERVAL": "0.5",
        "AIRLOCK_PASS_ENV": "AIRFLOW_HOME,AIRFLOW__WORKERS__EXECUTION_API_RETRIES",
        "AIRFLOW_HOME": os.environ["AIRFLOW_HOME"],
        "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "1",
    }
    done = subprocess.run(
        [str(BIN_DIR / "supervisor"), "run", ti], env=env, capture_output=True, text=True, timeout=120
    )
    log = tmp_path / "logs" / "dag_id=py" / "run_id=interop" / "task_id=airflow_codec" / "attempt=1.log"
    assert done.returncode == 0, done.stderr + (log.read_text() if log.exists() else "")

    shown = airlock.show(ti)
    assert shown["state"] == "success"
    token = airlock.token(ti, "execution")
    report = _xcom(airlock, token, "py", "interop", "airflow_codec", "report")
    assert report == {
        "startup": {
            "ti_id": ti,
            "try_number": 1,
            "dag_rel_path": "dags/py.py",
            "bundle": "airflow-python-runner",
            "dag_run_state": "running",
            "start_date_is_aware": True,
        },
        "xcom_echo": {"answer": 42, "nested": [1, "two"]},
        "greeting": "hello from airlock",
        "missing_error": "VARIABLE_NOT_FOUND",
        "missing_detail": {"key": "no-such-variable"},
    }
    assert _xcom(airlock, token, "py", "interop", "airflow_codec", "from_python") == {"answer": 42, "nested": [1, "two"]}
    assert "task finished" in log.read_text()
