"""A task runner built only from Apache Airflow's own comms code (task SDK 1.3.2): the
interop suite installs it as a bundle executable and lets Airlock's supervisor start it.

It decodes StartupDetails, sets and reads back an XCom, reads a Variable and a missing one,
records what it saw as another XCom, and finishes with SucceedTask."""

from __future__ import annotations

import socket
import sys
from datetime import datetime, timezone

from airflow.sdk.execution_time.comms import (
    CommsDecoder,
    ErrorResponse,
    GetVariable,
    GetXCom,
    SetXCom,
    StartupDetails,
    SucceedTask,
    ToSupervisor,
    ToTask,
    VariableResult,
    XComResult,
)
from pydantic import TypeAdapter


def main() -> int:
    comms = CommsDecoder[ToTask, ToSupervisor](
        socket=socket.socket(fileno=0),
        body_decoder=TypeAdapter(ToTask),
        err_decoder=TypeAdapter(ToTask),
    )
    startup = comms._get_response()
    assert isinstance(startup, StartupDetails), startup
    ti = startup.ti
    where = {"dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id}

    comms.send(SetXCom(key="from_python", value={"answer": 42, "nested": [1, "two"]}, **where))
    echoed = comms.send(GetXCom(key="from_python", **where))
    assert isinstance(echoed, XComResult), echoed

    greeting = comms.send(GetVariable(key="greeting"))
    assert isinstance(greeting, VariableResult), greeting
    missing = comms.send(GetVariable(key="no-such-variable"))
    assert isinstance(missing, ErrorResponse), missing

    report = {
        "startup": {
            "ti_id": str(ti.id),
            "try_number": ti.try_number,
            "dag_rel_path": startup.dag_rel_path,
            "bundle": startup.bundle_info.name,
            "dag_run_state": startup.ti_context.dag_run.state.value,
            "start_date_is_aware": startup.start_date.tzinfo is not None,
        },
        "xcom_echo": echoed.value,
        "greeting": greeting.value,
        "missing_error": missing.error.value,
        "missing_detail": missing.detail,
    }
    comms.send(SetXCom(key="report", value=report, **where))
    comms.send(SucceedTask(end_date=datetime.now(timezone.utc)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
