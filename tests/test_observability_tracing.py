"""One write's trace with the TracingInterceptor: caller, write activity, signal, batcher, flush."""

from __future__ import annotations

import asyncpg
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from batcher_service.shard.state import BatcherConfig
from main_service.payments import PaymentResult
from tests.harness import Queues, payment, running_workers
from write_batcher.contract import BATCHER_WORKFLOW, SUBMIT_SIGNAL, WRITE_ACTIVITY
from write_batcher_kit.telemetry import tracing_interceptor


def _named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


async def test_one_write_is_traced_from_caller_through_flush_to_ack(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # Client interceptors that are also worker interceptors apply to its workers as well.
    config = temporal_env.client.config()
    config["interceptors"] = [tracing_interceptor(provider)]
    client = Client(**config)
    batcher_config = BatcherConfig(max_batch_size=10, max_wait_seconds=0.2)
    async with running_workers(client, db_pool, queues, batcher_config) as h:
        handle = await h.start_payment("traced-1", payment(1))
        result: PaymentResult = await handle.result()
    spans = list(exporter.get_finished_spans())
    rid, batch_id = result.request_id, result.batch_id
    assert batch_id

    def one(name: str, **attrs: object) -> ReadableSpan:
        found = [
            s
            for s in _named(spans, name)
            if all((s.attributes or {}).get(f"write_batcher.{k}") == v for k, v in attrs.items())
        ]
        assert len(found) == 1, f"{name} {attrs}: {[(s.name, s.attributes) for s in spans]}"
        return found[0]

    # The caller's side: its workflow schedules the write activity on the batcher's queue,
    # where the batcher worker runs it, tagged with the request id.
    caller = one("RunWorkflow:PaymentWorkflow")
    scheduled = one(f"StartActivity:{WRITE_ACTIVITY}")
    assert scheduled.context.trace_id == caller.context.trace_id
    submit = one(f"RunActivity:{WRITE_ACTIVITY}", request_id=rid)
    assert submit.context.trace_id == caller.context.trace_id
    assert submit.parent is not None and submit.parent.span_id == scheduled.context.span_id
    # The signal to the batcher is sent from the submit activity...
    message = one(f"SignalWithStartWorkflow:{BATCHER_WORKFLOW}")
    assert message.parent is not None and message.parent.span_id == submit.context.span_id
    # ...coalesced with any other writes of this worker for the shard, and the batcher's
    # handler links back to it (a link, not a parent: see temporal-notes).
    handled = one(f"HandleSignal:{SUBMIT_SIGNAL}")
    assert message.context.span_id in [link.context.span_id for link in handled.links]
    buffered = one("BufferWrite", request_id=rid)
    assert buffered.context.trace_id == message.context.trace_id
    # The batcher's flush of that write, tagged with the batch id and its size.
    one("StartFlush", batch_id=batch_id, request_count=1)
    flush = one("RunActivity:flush_batch", batch_id=batch_id, request_count=1)
    assert flush.context.trace_id == caller.context.trace_id
    # No query: the flush completes the caller's activity by id; the caller records the ack.
    assert not [s for s in spans if s.name.startswith(("QueryWorkflow:", "HandleQuery:"))]
    one("ReceiveAck", request_id=rid, batch_id=batch_id, outcome="written")
    provider.shutdown()
