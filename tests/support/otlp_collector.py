"""A minimal OTLP/gRPC trace collector for tests, in a process of its own.

Its own process: gRPC's server threads in the test process would be there when the stack
forks its workers (with a ``preexec_fn``), and a fork while another thread holds a lock can
hang the child before it execs. Every span it is sent becomes one JSON line in a file.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.ports import free_port


@dataclass(frozen=True)
class Received:
    service: str
    name: str
    trace_id: str
    start_ns: int
    end_ns: int


class OtlpCollector:
    """``python -m tests.support.otlp_collector PORT FILE``, started and stopped by the test."""

    def __init__(self, out: Path) -> None:
        self.port = free_port()
        self.out = out
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, within: float = 30.0) -> OtlpCollector:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.otlp_collector", str(self.port), str(self.out)]
        )
        deadline = time.monotonic() + within
        while True:
            assert self._proc.poll() is None, "the OTLP collector exited"
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            assert time.monotonic() < deadline, "the OTLP collector does not listen"
            time.sleep(0.1)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)

    def spans(self) -> list[Received]:
        if not self.out.exists():
            return []
        lines = self.out.read_text().splitlines()
        # The last line may be half written.
        return [Received(**json.loads(line)) for line in lines if line.endswith("}")]


def serve(port: int, out: Path) -> None:
    import grpc  # noqa: PLC0415 - only in the collector's process
    from opentelemetry.proto.collector.trace.v1 import (  # noqa: PLC0415
        trace_service_pb2,
        trace_service_pb2_grpc,
    )

    lock = threading.Lock()
    sink = out.open("a")

    class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
        # The generated servicer's method name.
        def Export(self, request: Any, context: Any) -> Any:
            with lock:
                for resource_spans in request.resource_spans:
                    service = next(
                        (
                            a.value.string_value
                            for a in resource_spans.resource.attributes
                            if a.key == "service.name"
                        ),
                        "",
                    )
                    for scope in resource_spans.scope_spans:
                        for span in scope.spans:
                            record = Received(
                                service,
                                span.name,
                                span.trace_id.hex(),
                                span.start_time_unix_nano,
                                span.end_time_unix_nano,
                            )
                            sink.write(json.dumps(record.__dict__) + "\n")
                sink.flush()
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    server.stop(grace=None)


if __name__ == "__main__":
    serve(int(sys.argv[1]), Path(sys.argv[2]))
