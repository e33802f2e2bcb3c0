"""Benchmark peer: answers every request on the socket on fd 0 the way Airflow's supervisor
does (msgspec frame decoding, pydantic validation of the body, a model_dump'ed response frame),
with a Variable from memory, until the client hangs up."""

import socket
import sys

import msgspec
from airflow.sdk.execution_time.comms import ToSupervisor, VariableResult, _RequestFrame, _ResponseFrame
from pydantic import TypeAdapter


def read_exactly(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf.extend(chunk)
    return bytes(buf)


def main() -> int:
    sock = socket.socket(fileno=0)
    frames = msgspec.msgpack.Decoder(_RequestFrame)
    bodies = TypeAdapter(ToSupervisor)
    while True:
        header = read_exactly(sock, 4)
        if header is None:
            return 0
        payload = read_exactly(sock, int.from_bytes(header, "big"))
        if payload is None:
            return 0
        request = frames.decode(payload)
        msg = bodies.validate_python(request.body)
        answer = VariableResult(key=msg.key, value="value")
        sock.sendall(_ResponseFrame(id=request.id, body=answer.model_dump()).as_bytes())


if __name__ == "__main__":
    sys.exit(main())
