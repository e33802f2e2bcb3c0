"""Airlock's golden frames (protocol/fixtures/frames.json) through Airflow's own codec: every frame
decodes with `_RequestFrame`/`_ResponseFrame` and Airflow's message models, and re-encoding it the
way Airflow's runner and supervisor do gives back the same bytes."""

from __future__ import annotations

import json
import pathlib

import msgspec
import pytest
from airflow.sdk.execution_time.comms import ToSupervisor, ToTask, _RequestFrame, _ResponseFrame
from pydantic import TypeAdapter

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = json.loads((ROOT / "protocol" / "fixtures" / "frames.json").read_text())

REQUESTS = TypeAdapter(ToSupervisor)
RESPONSES = TypeAdapter(ToTask)


def _payload(name: str) -> bytes:
    raw = bytes.fromhex(FIXTURES[name]["hex"])
    assert int.from_bytes(raw[:4], "big") == len(raw) - 4
    return raw


@pytest.mark.parametrize("name", sorted(n for n, f in FIXTURES.items() if f["direction"] == "request"))
def test_requests_decode_and_reencode_identically(name):
    raw = _payload(name)
    frame = msgspec.msgpack.Decoder(_RequestFrame).decode(raw[4:])
    msg = REQUESTS.validate_python(frame.body)
    again = _RequestFrame(id=frame.id, body=msg.model_dump(), context_carrier=frame.context_carrier).as_bytes()
    assert bytes(again) == raw


@pytest.mark.parametrize("name", sorted(n for n, f in FIXTURES.items() if f["direction"] == "response"))
def test_responses_decode_and_reencode_identically(name):
    raw = _payload(name)
    frame = msgspec.msgpack.Decoder(_ResponseFrame).decode(raw[4:])
    # (Connection results are dumped by alias: `schema`, not pydantic's `schema_`.)
    body = RESPONSES.validate_python(frame.body) if frame.body is not None else None
    error = RESPONSES.validate_python(frame.error) if frame.error is not None else None
    if error is not None:
        assert type(error).__name__ == "ErrorResponse"
    again = _ResponseFrame(
        id=frame.id,
        body=body.model_dump(by_alias=True) if body is not None else None,
        error=error.model_dump() if error is not None else None,
    ).as_bytes()
    assert bytes(again) == raw
