"""Fixtures of the interop suite: a real `api-server` process over a fresh SQLite database."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import tempfile
import time
import urllib.request

# Airflow reads its configuration at import time: give it a home of its own (readable by task
# code, which runs as `nobody` when the suite runs as root), and no long retry loops (a failure
# must fail the test, not stall it).
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-home-")
    os.chmod(os.environ["AIRFLOW_HOME"], 0o1777)
os.environ.setdefault("AIRFLOW__WORKERS__EXECUTION_API_RETRIES", "1")
os.environ.setdefault("AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT", "10")

import pytest  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN_DIR = pathlib.Path(os.environ.get("AIRLOCK_BIN_DIR", ROOT / "target" / "debug"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout: float, what: str, interval: float = 0.05):
    """Polls `condition` until it returns a truthy value, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Airlock:
    """A running `api-server` and the admin commands that seed it."""

    def __init__(self, home: pathlib.Path):
        self.home = home
        self.env = {**os.environ, "AIRLOCK_HOME": str(home), "AIRLOCK_LOG": "warn"}
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/execution/"
        self.log = open(home.parent / "api-server.log", "wb")
        self.proc = subprocess.Popen(
            [str(BIN_DIR / "api-server"), "serve", "--bind", f"127.0.0.1:{self.port}"],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_until(self._healthy, 30, "the api-server to answer /health")

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"api-server exited with {self.proc.returncode}")
        try:
            with urllib.request.urlopen(self.base_url + "health", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def admin(self, *args: str, stdin: str | None = None) -> str:
        out = subprocess.run(
            [str(BIN_DIR / "api-server"), "admin", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def create_run(self, spec: dict) -> dict[str, str]:
        """Creates a run with queued task instances; returns {task_id: ti_id}."""
        created = json.loads(self.admin("create-run", "-", stdin=json.dumps(spec)))
        return {t["task_id"]: t["id"] for t in created["task_instances"]}

    def token(self, ti_id: str, scope: str = "workload") -> str:
        return self.admin("mint-token", "--ti", ti_id, "--scope", scope)

    def show(self, ti_id: str) -> dict:
        return json.loads(self.admin("show-ti", ti_id))

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.log.close()


@pytest.fixture
def airlock(tmp_path):
    server = Airlock(tmp_path / "home")
    try:
        yield server
    finally:
        server.stop()
