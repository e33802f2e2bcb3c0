"""The committed OpenAPI document is a contract clients can build on: a client generated from it
by openapi-python-client makes typed calls against a live server, and a bounded schemathesis
run finds no server error and no response that breaks the document."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tempfile
import time
import urllib.request

from conftest import ROOT

VENV_BIN = ROOT / ".venv" / "bin"
DOCUMENT = ROOT / "openapi" / "execution-api.json"

# What every schemathesis pass checks: no 5xx, and every status code, media type, header and body
# as the document says.
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    ]
)


def generate_client(tmp_path):
    config = tmp_path / "generator.yaml"
    # No formatter run afterwards (it is not installed, and its absence is a warning).
    config.write_text("post_hooks: []\n")
    out = subprocess.run(
        [
            str(VENV_BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(DOCUMENT),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / "airlock_client"),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = out.stdout + out.stderr
    assert out.returncode == 0, report
    # Duplicate model names, unprocessable schemas and the like come out as warnings.
    assert "Warning" not in report and "Unable to" not in report, report
    sys.path.insert(0, str(tmp_path))
    return importlib.import_module("airlock_client")


def test_a_generated_client_makes_typed_calls(airlock, tmp_path):
    generate_client(tmp_path)
    from airlock_client import AuthenticatedClient
    from airlock_client.api.airlock_control import get_run, register_bundle, trigger_run
    from airlock_client.api.dag_runs import get_dagrun_state, get_dr_count
    from airlock_client.models import (
        BundleDefinition,
        BundleRegistered,
        DagRunState,
        DagRunStateResponse,
        RunDetails,
        TriggerRunRequest,
    )

    admin = AuthenticatedClient(
        base_url=airlock.base_url.rstrip("/"),
        token=airlock.admin("mint-token", "--scope", "admin", "--subject", "generated-client"),
        raise_on_unexpected_status=True,
    )
    bundle = BundleDefinition.from_dict(
        {"bundle": "b", "dags": [{"dag_id": "typed", "tasks": [{"task_id": "t"}]}]}
    )
    registered = register_bundle.sync(bundle="b", client=admin, body=bundle)
    assert isinstance(registered, BundleRegistered) and registered.dags == ["typed"]

    created = trigger_run.sync(dag_id="typed", client=admin, body=TriggerRunRequest(run_id="r1"))
    assert isinstance(created, RunDetails), created
    assert created.run_id == "r1" and isinstance(created.state, DagRunState)
    got = get_run.sync(dag_id="typed", run_id="r1", client=admin)
    assert isinstance(got, RunDetails) and got.dag_id == "typed"
    assert got.state in (DagRunState.QUEUED, DagRunState.RUNNING, DagRunState.SUCCESS)

    # A task's view of the same run, with a task token.
    ti = airlock.create_run({"dag_id": "typed", "run_id": "seeded", "tasks": [{"task_id": "t"}]})
    task = AuthenticatedClient(
        base_url=airlock.base_url.rstrip("/"),
        token=airlock.token(ti["t"], "execution"),
        raise_on_unexpected_status=True,
    )
    state = get_dagrun_state.sync(dag_id="typed", run_id="seeded", client=task)
    assert isinstance(state, DagRunStateResponse) and state.state == DagRunState.RUNNING
    assert get_dr_count.sync(client=task, dag_id="typed") == 2


def schemathesis(airlock, token: str, *selection: str) -> subprocess.CompletedProcess:
    # In a directory of its own: schemathesis keeps a cache (replayed failures) in its working
    # directory, which must neither land in the repository nor carry over between runs.
    with tempfile.TemporaryDirectory() as cwd:
        return _schemathesis_in(cwd, airlock, token, *selection)


def _schemathesis_in(cwd, airlock, token: str, *selection: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(VENV_BIN / "st"),
            "run",
            airlock.base_url + "openapi.json",
            "-H",
            f"Authorization: Bearer {token}",
            *selection,
            "--checks",
            CHECKS,
            "--max-examples",
            "20",
            "--seed",
            "1",
            "--request-timeout",
            "20",
            "--no-color",
            "--warnings",
            "off",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def test_schemathesis_finds_no_server_error_and_no_schema_violation(airlock):
    ti = airlock.create_run({"dag_id": "fuzzed", "run_id": "r", "tasks": [{"task_id": "t"}]})["t"]
    passes = [
        # Task routes (Airflow's and Airlock's), with a task's execution token.
        (
            airlock.token(ti, "execution"),
            ["--exclude-tag", "Airlock Control", "--exclude-tag", "Airlock Triggerer"],
        ),
        # The control API, with an admin token; the executor tick is a long poll of up to
        # 30 s per call, exercised by its own suites instead; `db clean` deletes the finished
        # runs this test checks afterwards (its bad input has tests of its own).
        (
            airlock.admin("mint-token", "--scope", "admin", "--subject", "fuzzer"),
            ["--include-tag", "Airlock Control", "--exclude-operation-id", "tick",
             "--exclude-operation-id", "clean"],
        ),
        # Triggerer routes, with a triggerer token (the claim is a long poll too).
        (
            airlock.admin("mint-token", "--scope", "triggerer", "--subject", "fuzzer"),
            ["--include-tag", "Airlock Triggerer", "--exclude-operation-id", "claim"],
        ),
    ]
    for token, selection in passes:
        started = time.monotonic()
        out = schemathesis(airlock, token, *selection)
        print(f"schemathesis {selection}: {time.monotonic() - started:.1f} s")
        assert out.returncode == 0, f"schemathesis {selection}:\n{out.stdout[-20000:]}{out.stderr}"
        assert "No issues found" in out.stdout, out.stdout[-5000:]
    # The server survived all of it.
    assert airlock.proc.poll() is None
    log = (airlock.home.parent / "api-server.log").read_text()
    assert "panic" not in log, log[-5000:]
    # And its data still reads. The fuzzer follows links from responses, so it may have
    # cleared, marked or cancelled the seeded run (a clear gives the task instance a new id):
    # read the run, not the first id.
    admin_token = airlock.admin("mint-token", "--scope", "admin", "--subject", "checker").strip()
    req = urllib.request.Request(
        airlock.base_url + "airlock/control/dags/fuzzed/runs/r",
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        run = json.loads(r.read())
    assert [t["task_id"] for t in run["task_instances"]] == ["t"], run
