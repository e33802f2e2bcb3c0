"""Airflow's own Execution API client (`airflow.sdk.api.client.Client`, task SDK 1.3.2) against a
real Airlock api-server. Nothing here is Airlock code: if Airflow's client works, Airlock is
wire-compatible."""

from __future__ import annotations

import base64
import json
import os
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk.api.client import Client, ServerResponseError
from airflow.sdk.api.datamodels._generated import (
    ConnectionResponse,
    TIRunContext,
    VariableKeysResponse,
    VariableResponse,
    XComResponse,
)
from airflow.sdk.exceptions import ErrorType, TaskAlreadyRunningError
from airflow.sdk.execution_time.comms import DeferTask, ErrorResponse


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def now() -> datetime:
    return datetime.now(timezone.utc)


def test_full_task_lifecycle_with_airflows_client(airlock):
    tis = airlock.create_run(
        {
            "dag_id": "interop",
            "run_id": "run-1",
            "tasks": [
                {"task_id": "producer", "retries": 0},
                {"task_id": "waiter", "retries": 0},
                {"task_id": "flaky", "retries": 2},
                {"task_id": "mapped", "map_index": 0},
                {"task_id": "mapped", "map_index": 1},
                {"task_id": "mapped", "map_index": 2},
            ],
        }
    )
    airlock.admin("set-variable", "greeting", "hello", "--description", "for the interop suite")
    env = {**airlock.env, "AIRLOCK_CONN_PASSWORD": "s3cret"}
    airlock.env, old = env, airlock.env
    airlock.admin("set-connection", "warehouse", "--conn-type", "postgres", "--host", "db.internal",
                  "--login", "etl", "--port", "5432", "--schema", "analytics", "--extra", '{"sslmode": "require"}')
    airlock.env = old

    ti = uuid.UUID(tis["producer"])
    workload = airlock.token(str(ti), "workload")
    assert claims(workload)["scope"] == "workload"
    client = Client(base_url=airlock.base_url, token=workload)

    # Start with the workload token: the answer swaps it for an execution token.
    ctx = client.task_instances.start(ti, pid=4242, when=now())
    assert isinstance(ctx, TIRunContext)
    assert ctx.dag_run.dag_id == "interop" and ctx.dag_run.run_id == "run-1"
    assert ctx.max_tries == 0 and ctx.should_retry is False
    assert ctx.xcom_keys_to_clear == [] and ctx.next_method is None
    execution = client.auth.token
    assert execution != workload
    assert claims(execution)["scope"] == "execution" and claims(execution)["sub"] == str(ti)
    assert airlock.show(str(ti))["state"] == "running"

    # Heartbeat (with the execution token: the workload token would be refused).
    client.task_instances.heartbeat(ti, pid=4242)
    with pytest.raises(ServerResponseError) as err:
        client.task_instances.heartbeat(ti, pid=999)
    assert err.value.response.status_code == 409
    assert err.value.detail["reason"] == "running_elsewhere"
    assert err.value.detail["current_pid"] == 4242

    # /run again from another process: Airflow's client recognises "already running".
    with pytest.raises(TaskAlreadyRunningError):
        client.task_instances.start(ti, pid=4243, when=now())

    # XComs.
    client.xcoms.set("interop", "run-1", "producer", "payload", {"rows": 3, "ok": True})
    got = client.xcoms.get("interop", "run-1", "producer", "payload")
    assert isinstance(got, XComResponse) and got.value == {"rows": 3, "ok": True}
    missing = client.xcoms.get("interop", "run-1", "producer", "nope")
    assert missing.value is None, "Airflow's client turns a 404 into a null value"
    # Values of a mapped task: one per map index (each task instance exists).
    for i, v in enumerate(["a", "b", "c"]):
        client.xcoms.set("interop", "run-1", "mapped", "parts", v, map_index=i, mapped_length=3)
    assert client.xcoms.get("interop", "run-1", "mapped", "parts", map_index=1).value == "b"
    assert client.xcoms.head("interop", "run-1", "mapped", "parts").len == 3
    assert client.xcoms.get_sequence_item("interop", "run-1", "mapped", "parts", 2).root == "c"
    assert client.xcoms.get_sequence_item("interop", "run-1", "mapped", "parts", -3).root == "a"
    item = client.xcoms.get_sequence_item("interop", "run-1", "mapped", "parts", 7)
    assert isinstance(item, ErrorResponse) and item.error == ErrorType.XCOM_NOT_FOUND
    sliced = client.xcoms.get_sequence_slice("interop", "run-1", "mapped", "parts", 0, None, 2)
    assert sliced.root == ["a", "c"]
    sliced = client.xcoms.get_sequence_slice("interop", "run-1", "mapped", "parts", None, None, -1)
    assert sliced.root == ["c", "b", "a"]
    client.xcoms.delete("interop", "run-1", "mapped", "parts", map_index=1)
    assert client.xcoms.head("interop", "run-1", "mapped", "parts").len == 2
    client.xcoms.delete("interop", "run-1", "producer", "payload")
    assert client.xcoms.get("interop", "run-1", "producer", "payload").value is None

    # Variables.
    var = client.variables.get("greeting")
    assert isinstance(var, VariableResponse) and var.value == "hello"
    client.variables.set("team/limit", "10", "a limit")
    assert client.variables.get("team/limit").value == "10"
    keys = client.variables.keys(prefix="team/")
    assert isinstance(keys, VariableKeysResponse) and keys.keys == ["team/limit"] and keys.total_entries == 1
    client.variables.delete("team/limit")
    gone = client.variables.get("team/limit")
    assert isinstance(gone, ErrorResponse) and gone.error == ErrorType.VARIABLE_NOT_FOUND

    # Connections.
    conn = client.connections.get("warehouse")
    assert isinstance(conn, ConnectionResponse)
    assert (conn.conn_type, conn.host, conn.login, conn.password, conn.port, conn.schema_) == (
        "postgres", "db.internal", "etl", "s3cret", 5432, "analytics")
    assert json.loads(conn.extra) == {"sslmode": "require"}
    nope = client.connections.get("nope")
    assert isinstance(nope, ErrorResponse) and nope.error == ErrorType.CONNECTION_NOT_FOUND

    # Other read routes.
    assert client.dag_runs.get_state("interop", "run-1").state.value == "running"
    assert client.dag_runs.get_count("interop").count == 1
    assert client.task_instances.get_count("interop", states=["queued"]).count == 5
    states = client.task_instances.get_task_states("interop", run_ids=["run-1"]).task_states
    assert states["run-1"]["producer"] == "running" and states["run-1"]["mapped_1"] == "queued"

    # Finish with success.
    client.task_instances.succeed(ti, when=now(), task_outlets=[], outlet_events=[], rendered_map_index=None)
    assert airlock.show(str(ti))["state"] == "success"
    # A heartbeat from the finished try is told to stop.
    with pytest.raises(ServerResponseError) as err:
        client.task_instances.heartbeat(ti, pid=4242)
    assert err.value.response.status_code == 409 and err.value.detail["reason"] == "not_running"

    # A second task instance defers to a trigger.
    waiter = uuid.UUID(tis["waiter"])
    wclient = Client(base_url=airlock.base_url, token=airlock.token(str(waiter)))
    wclient.task_instances.start(waiter, pid=5000, when=now())
    moment = now() + timedelta(minutes=10)
    wclient.task_instances.defer(
        waiter,
        DeferTask(
            classpath="airflow.providers.standard.triggers.temporal.DateTimeTrigger",
            trigger_kwargs={"moment": moment.isoformat(), "end_from_trigger": False},
            trigger_timeout=timedelta(minutes=30),
            next_method="execute_complete",
            next_kwargs={"attempt": 1},
        ),
    )
    shown = airlock.show(str(waiter))
    assert shown["state"] == "deferred"
    assert shown["next_method"] == "execute_complete" and shown["next_kwargs"] == {"attempt": 1}

    # A third goes up for retry, and its old id is fenced off.
    flaky = uuid.UUID(tis["flaky"])
    fclient = Client(base_url=airlock.base_url, token=airlock.token(str(flaky)))
    fctx = fclient.task_instances.start(flaky, pid=6000, when=now())
    assert fctx.should_retry is True and fctx.max_tries == 2
    fclient.task_instances.retry(flaky, end_date=now(), rendered_map_index=None,
                                 retry_delay_seconds=5.0, retry_reason="flaky upstream")
    with pytest.raises(ServerResponseError) as err:
        fclient.task_instances.heartbeat(flaky, pid=6000)
    assert err.value.response.status_code == 410
    states = client.task_instances.get_task_states("interop", run_ids=["run-1"]).task_states["run-1"]
    assert (states["producer"], states["waiter"], states["flaky"]) == ("success", "deferred", "up_for_retry")


def test_not_found_and_refusals(airlock):
    tis = airlock.create_run({"dag_id": "interop", "run_id": "r", "tasks": [{"task_id": "t"}]})
    ti = uuid.UUID(tis["t"])
    client = Client(base_url=airlock.base_url, token=airlock.token(str(ti), "execution"))
    unknown = uuid.uuid4()
    other = Client(base_url=airlock.base_url, token=airlock.token(str(unknown), "execution"))
    with pytest.raises(ServerResponseError) as err:
        other.task_instances.start(unknown, pid=1, when=now())
    assert err.value.response.status_code == 404 and err.value.detail["reason"] == "not_found"
    with pytest.raises(ServerResponseError) as err:
        other.task_instances.heartbeat(unknown, pid=1)
    assert err.value.response.status_code == 404
    # Another task instance's token: 403, and nothing changes.
    with pytest.raises(ServerResponseError) as err:
        other.task_instances.start(ti, pid=1, when=now())
    assert err.value.response.status_code == 403
    assert airlock.show(str(ti))["state"] == "queued"
    # An XCom slice on a run that has none is empty; a DAG that does not exist is 404.
    assert client.xcoms.get_sequence_slice("interop", "r", "t", "k", None, None, None).root == []
    with pytest.raises(ServerResponseError) as err:
        client.dags.get("no-such-dag")
    assert err.value.response.status_code == 404
