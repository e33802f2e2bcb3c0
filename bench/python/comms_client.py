"""Benchmark client: N GetVariable round trips with Apache Airflow's own CommsDecoder over the
socket on fd 0; prints round trips per second."""

import socket
import sys
import time

from airflow.sdk.execution_time.comms import CommsDecoder, GetVariable, ToSupervisor, ToTask, VariableResult
from pydantic import TypeAdapter


def main() -> int:
    n = int(sys.argv[1])
    comms = CommsDecoder[ToTask, ToSupervisor](
        socket=socket.socket(fileno=0),
        body_decoder=TypeAdapter(ToTask),
        err_decoder=TypeAdapter(ToTask),
    )
    # Warm up: the peer may still be starting.
    comms.send(GetVariable(key="k"))
    start = time.perf_counter()
    for _ in range(n):
        answer = comms.send(GetVariable(key="k"))
        assert isinstance(answer, VariableResult), answer
    print(n / (time.perf_counter() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
