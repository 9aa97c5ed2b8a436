"""OTEL_EXPORTER_OTLP_ENDPOINT: the shipped batcher worker sends its spans by OTLP/gRPC to a
collector, here a real gRPC server in the test that decodes each export request.

Only the public settings and the process boundary are used, so how the worker produces its
spans (interceptor or plugin) may change without this test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from devstack.ports import free_port
from tests.support.harness import eventually
from tests.support.worker_process import (
    batcher_process,
    callers,
    client_for,
    create_items,
    dev_server,
    worker_env,
    write_one,
)
from write_batcher import WriteResult
from write_batcher.contract import WRITE_ACTIVITY

SERVICE = "batcher-under-test"


@dataclass
class Span:
    service: str
    name: str
    attributes: dict[str, object]


def _value(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@dataclass
class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """What an OTLP collector received, span by span."""

    spans: list[Span] = field(default_factory=list)

    async def Export(  # the gRPC method's name
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: object
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    attributes = {a.key: _value(a.value) for a in span.attributes}
                    self.spans.append(
                        Span(str(resource.get("service.name")), span.name, attributes)
                    )
        return trace_service_pb2.ExportTraceServiceResponse()

    def named(self, name: str) -> list[Span]:
        return [s for s in self.spans if s.name == name]


@asynccontextmanager
async def collector() -> AsyncIterator[tuple[Collector, str]]:
    """An OTLP/gRPC trace receiver on a free port: it and its endpoint URL."""
    received = Collector()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(received, server)
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        yield received, f"http://127.0.0.1:{port}"
    finally:
        await server.stop(grace=None)


async def test_a_writes_spans_reach_the_otlp_endpoint_under_the_service_name(
    tmp_path: Path, database_url: str
) -> None:
    await create_items(database_url)
    async with collector() as (received, endpoint), dev_server(tmp_path) as server:
        client = await client_for(server)
        env = worker_env(
            tmp_path,
            server.address,
            database_url,
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            OTEL_SERVICE_NAME=SERVICE,
        )
        async with batcher_process(tmp_path, env), callers(client) as queue:
            result = await write_one(client, queue, {"id": "traced", "n": 1})
            assert isinstance(result, WriteResult), result

            def intake_spans() -> list[Span]:
                return [
                    s
                    for s in received.named(f"RunActivity:{WRITE_ACTIVITY}")
                    if s.attributes.get("write_batcher.request_id") == result.request_id
                ]

            async def exported() -> bool:
                return bool(intake_spans() and received.named("RunActivity:flush_batch"))

            # Spans leave in batches every few seconds, not when they end.
            await eventually(exported, within=30)
    assert {s.service for s in received.spans} == {SERVICE}
    flushes = received.named("RunActivity:flush_batch")
    assert result.batch_id in {s.attributes.get("write_batcher.batch_id") for s in flushes}
