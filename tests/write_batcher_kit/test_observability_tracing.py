"""Writes traced through the SDK's OpenTelemetryPlugin: caller, intake, signal, shard, flush."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, use_span
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.opentelemetry import OpenTelemetryPlugin, create_tracer_provider
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from batcher_service.intake.config import IntakeConfig
from batcher_service.shard.state import BatcherConfig
from batcher_service.shard.workflow import WriteBatcherWorkflow
from batcher_service.worker import build_worker as build_batcher_worker
from main_service.payments import PaymentResult
from main_service.workflows import PaymentWorkflow
from tests.support.harness import Queues, payment, running_workers
from tests.support.write_support import CALLER_WORKFLOWS
from tests.support.write_workflows import WriteCall
from tests.write_batcher.test_write_batcher import DDL, TABLES
from write_batcher import WriteBatchingPlugin, _spans
from write_batcher._spans import BUFFER_SPAN, FLUSH_SPAN, WRITE_SPAN
from write_batcher.contract import BATCHER_WORKFLOW, SUBMIT_SIGNAL, WRITE_ACTIVITY
from write_batcher_kit.telemetry import tracing_plugin

HISTORIES = Path(__file__).parent.parent / "histories"
_EXPORTER = InMemorySpanExporter()
_PLUGIN: list[OpenTelemetryPlugin] = []


@pytest.fixture
def traced() -> Iterator[tuple[InMemorySpanExporter, OpenTelemetryPlugin]]:
    """The process's one replay-safe provider (OpenTelemetry sets it once), spans in memory."""
    if not _PLUGIN:
        provider = create_tracer_provider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        _PLUGIN.append(tracing_plugin(provider))
    _EXPORTER.clear()
    yield _EXPORTER, _PLUGIN[0]
    _EXPORTER.clear()


def _attr(span: ReadableSpan, key: str) -> object:
    return (span.attributes or {}).get(key)


class Spans:
    def __init__(self, spans: list[ReadableSpan]) -> None:
        self.all = spans

    def named(self, name: str, **attrs: object) -> list[ReadableSpan]:
        return [
            s
            for s in self.all
            if s.name == name
            and all(
                _attr(s, k) == v or _attr(s, f"write_batcher.{k}") == v for k, v in attrs.items()
            )
        ]

    def one(self, name: str, **attrs: object) -> ReadableSpan:
        found = self.named(name, **attrs)
        assert len(found) == 1, f"{name} {attrs}: {[(s.name, s.attributes) for s in self.all]}"
        return found[0]

    def children(self, parent: ReadableSpan, name: str) -> list[ReadableSpan]:
        return [
            s
            for s in self.named(name)
            if s.parent is not None and s.parent.span_id == parent.context.span_id
        ]


def _is_child(child: ReadableSpan, parent: ReadableSpan) -> bool:
    return (
        child.parent is not None
        and child.parent.span_id == parent.context.span_id
        and child.context.trace_id == parent.context.trace_id
    )


def _lasted(span: ReadableSpan) -> int:
    assert span.start_time is not None and span.end_time is not None
    return span.end_time - span.start_time


async def test_each_write_is_traced_from_its_caller_through_the_flush_that_wrote_it(
    temporal_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    queues: Queues,
    traced: tuple[InMemorySpanExporter, OpenTelemetryPlugin],
) -> None:
    exporter, plugin = traced
    # On the client: its workers (and their activities' client calls) are traced too.
    config = temporal_env.client.config()
    config["plugins"] = [plugin]
    client = Client(**config)
    # One signal per run: the shard continues as new between the two waves.
    batcher_config = BatcherConfig(max_batch_size=10, max_signals_per_run=1)
    results: list[tuple[str, PaymentResult]] = []
    async with running_workers(client, db_pool, queues, batcher_config) as h:
        for wave in range(2):
            ids = [f"traced-{wave}-{i}" for i in range(4)]
            handles = [
                await h.start_payment(wid, payment(wave * 10 + i)) for i, wid in enumerate(ids)
            ]
            results += zip(ids, await asyncio.gather(*(x.result() for x in handles)), strict=True)
    spans = Spans(list(exporter.get_finished_spans()))
    # Replay-safe: no span is exported twice (workflow spans are not re-ended on replay).
    ids_seen = [(s.context.trace_id, s.context.span_id) for s in spans.all]
    assert len(ids_seen) == len(set(ids_seen))

    flushes_by_parent = 0
    for wid, result in results:
        rid, batch_id = result.request_id, result.batch_id
        assert batch_id
        caller = spans.one("RunWorkflow:PaymentWorkflow", temporalWorkflowID=wid)
        # The caller's write, from the call to its outcome, under the caller's workflow.
        write = spans.one(WRITE_SPAN, request_id=rid)
        assert _is_child(write, caller)
        assert _attr(write, "write_batcher.outcome") == "written"
        assert _attr(write, "write_batcher.batch_id") == batch_id
        # It schedules the write activity on the batcher's queue; the batcher worker runs it.
        (scheduled,) = spans.children(write, f"StartActivity:{WRITE_ACTIVITY}")
        intakes = spans.children(scheduled, f"RunActivity:{WRITE_ACTIVITY}")
        assert intakes and all(_attr(s, "write_batcher.request_id") == rid for s in intakes)
        # The intake hands it to the shard; the shard buffers it under that activity.
        buffered = spans.one(BUFFER_SPAN, request_id=rid)
        (intake,) = [s for s in intakes if _is_child(buffered, s)]
        # The flush that wrote it: in its trace (the batch's first write) or linked to it.
        flush = spans.one(FLUSH_SPAN, batch_id=batch_id)
        if _is_child(flush, intake):
            flushes_by_parent += 1
        else:
            assert intake.context.span_id in [link.context.span_id for link in flush.links]
        (started,) = spans.children(flush, "StartActivity:flush_batch")
        (ran,) = spans.children(started, "RunActivity:flush_batch")
        assert _attr(ran, "write_batcher.batch_id") == batch_id
        # Real durations: the write spans the flush that completed it.
        assert _lasted(flush) > 0 and _lasted(write) > 0
        assert write.start_time is not None and write.end_time is not None
        assert write.start_time < (ran.start_time or 0) < write.end_time
    # Every batch is in one of its writes' traces.
    assert flushes_by_parent == len({r.batch_id for _, r in results})

    # The signal's handler is a child of the send (the plugin parents; no link).
    handled = spans.named(f"HandleSignal:{SUBMIT_SIGNAL}")
    sent = spans.named(f"SignalWithStartWorkflow:{BATCHER_WORKFLOW}")
    assert handled
    for one in handled:
        assert [s for s in sent if _is_child(one, s)], one
    # Each shard run is a trace of its own: a continued run does not join the trace of the
    # write that first started the shard.
    config_loads = spans.named("StartActivity:load_batcher_config")
    assert len(config_loads) >= 2
    assert len({s.context.trace_id for s in config_loads}) == len(config_loads)
    # The flush looks nothing up: the caller's activity is completed by its id.
    assert not [s for s in spans.all if s.name.startswith(("QueryWorkflow:", "HandleQuery:"))]


@pytest.mark.parametrize("name", ["payment-written-fixed", "batcher-duplicates-can-run1"])
async def test_replaying_a_history_with_tracing_on_exports_nothing(
    name: str, traced: tuple[InMemorySpanExporter, OpenTelemetryPlugin]
) -> None:
    """Recorded without tracing, replayed with it: the same commands, and no span again."""
    exporter, plugin = traced
    # Earlier tests' workflow coroutines, abandoned at their workers' shutdown, end their spans
    # when garbage collection closes them: seen once landing in this exporter mid-replay.
    gc.collect()
    exporter.clear()
    (path,) = HISTORIES.glob(f"{name}__*.json")
    history = WorkflowHistory.from_json(path.stem.split("__", 1)[1], path.read_text())
    replayer = Replayer(
        workflows=[WriteBatcherWorkflow, PaymentWorkflow],
        plugins=[WriteBatchingPlugin(), plugin],
    )
    await replayer.replay_workflow(history)
    assert list(exporter.get_finished_spans()) == []


@given(
    trace_id=st.integers(1, 2**128 - 1),
    span_id=st.integers(1, 2**64 - 1),
    sampled=st.booleans(),
)
def test_a_traceparent_names_the_span_it_was_taken_from(
    trace_id: int, span_id: int, sampled: bool
) -> None:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    current = NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=False, trace_flags=flags))
    with use_span(current):
        header = _spans.traceparent()
    assert header is not None
    parsed = _spans._span_context(header)
    assert parsed is not None
    assert (parsed.trace_id, parsed.span_id, parsed.trace_flags) == (trace_id, span_id, flags)


@given(st.text(max_size=80))
def test_a_malformed_traceparent_is_no_parent(header: str) -> None:
    parsed = _spans._span_context(header)
    assert parsed is None or header.startswith("00-")
    assert _spans._span_context("00-" + "0" * 32 + "-" + "1" * 16 + "-01") is None


def test_the_library_imports_no_opentelemetry() -> None:
    """Optional for a caller: importing the library (and its workflow code) loads none of it."""
    probe = (
        "import sys, write_batcher, write_batcher._workflow, write_batcher.testing\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'opentelemetry'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]", done.stdout


@pytest.mark.parametrize("tracing_first", [True, False], ids=["otel-first", "batching-first"])
async def test_a_caller_worker_traced_by_its_own_plugins_replaying_every_task(
    temporal_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    traced: tuple[InMemorySpanExporter, OpenTelemetryPlugin],
    tracing_first: bool,
) -> None:
    """OpenTelemetryPlugin beside WriteBatchingPlugin on the caller's Worker (not its client),
    in either order, with no workflow cache: every task replays the write from the start."""
    exporter, plugin = traced
    await db_pool.execute(DDL)
    config = temporal_env.client.config()
    config["plugins"] = [plugin]
    batcher_client = Client(**config)
    tag = uuid.uuid4().hex[:8]
    callers, batcher = f"callers-{tag}", f"batcher-{tag}"
    batching = WriteBatchingPlugin(batcher_task_queue=batcher)
    intake = IntakeConfig(id_prefix=f"wb-{tag}")
    plugins = [plugin, batching] if tracing_first else [batching, plugin]
    async with (
        build_batcher_worker(
            batcher_client, db_pool, BatcherConfig(), TABLES, task_queue=batcher, intake=intake
        ),
        Worker(
            temporal_env.client,
            task_queue=callers,
            workflows=CALLER_WORKFLOWS,
            plugins=plugins,
            max_cached_workflows=0,
        ),
    ):
        result = await temporal_env.client.execute_workflow(
            "WriteOne", WriteCall("strict", {"id": tag}), id=f"own-{tag}", task_queue=callers
        )
    spans = Spans(list(exporter.get_finished_spans()))
    ids_seen = [s.context.span_id for s in spans.all]
    assert len(ids_seen) == len(set(ids_seen))
    # Exported once, though its workflow replayed from the start for the ack; its real span.
    write = spans.one(WRITE_SPAN, request_id=result["request_id"])
    assert _lasted(write) > 0
    assert _attr(write, "write_batcher.outcome") == "written"
    # One interceptor: one StartActivity, under which the batcher's intake runs.
    (scheduled,) = spans.children(write, f"StartActivity:{WRITE_ACTIVITY}")
    assert spans.children(scheduled, f"RunActivity:{WRITE_ACTIVITY}")
    assert spans.one(FLUSH_SPAN, batch_id=result["batch_id"])
