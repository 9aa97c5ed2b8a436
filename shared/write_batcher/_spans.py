"""Replay-safe spans from workflow code, only while the SDK's OpenTelemetryPlugin traces.

OpenTelemetry is optional for the library and nothing here imports it: the modules are
looked up in ``sys.modules``. A process that traces has imported them already (the plugin
and ``create_tracer_provider`` live there), and a runtime import inside a workflow would go
through the sandbox's importer on every run.

Spans are made only when the global tracer provider is the SDK's ``ReplaySafeTracerProvider``
(what ``OpenTelemetryPlugin`` requires): its spans are not re-exported on replay and their
ids come from the workflow's seeded random, so a replayed span is the same span. A plain
provider would duplicate every span on each replay.

Parents and links travel as W3C ``traceparent`` strings: a request carries its write's one
from the batcher's intake to the shard's flush, where many writes' traces meet.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Link, SpanContext, Tracer

SpanAttributes = Mapping[str, str | bool | int | float]
# A write from its caller's call to its outcome (the caller's workflow).
WRITE_SPAN = "BatchedWrite"
# A shard took a write into its buffer (a child of the write's intake activity).
BUFFER_SPAN = "BufferWrite"
# One flush in the shard's workflow, from its start to its result: under the first traced
# write of the batch, linked to the others.
FLUSH_SPAN = "FlushBatch"
TRACER_NAME = "write_batcher"
# The OpenTelemetry SDK keeps 128 links per span by default; a flush links at most this many.
MAX_LINKS = 128
_VERSION = "00"
_FIELDS = 4


def _trace_api() -> Any | None:
    return sys.modules.get("opentelemetry.trace")


def _tracer() -> Tracer | None:
    """This process's replay-safe tracer, or None: tracing is off."""
    contrib = sys.modules.get("temporalio.contrib.opentelemetry")
    trace = _trace_api()
    if contrib is None or trace is None:
        return None
    provider = trace.get_tracer_provider()
    if not isinstance(provider, contrib.ReplaySafeTracerProvider):
        return None
    tracer: Tracer = provider.get_tracer(TRACER_NAME)
    return tracer


def traceparent() -> str | None:
    """The current span as a W3C ``traceparent``; None when nothing is traced."""
    trace = _trace_api()
    if trace is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{_VERSION}-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def _span_context(header: str | None) -> SpanContext | None:
    trace = _trace_api()
    if trace is None or not header:
        return None
    parts = header.split("-")
    if len(parts) != _FIELDS or parts[0] != _VERSION:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return None
    context: SpanContext = trace.SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=trace.TraceFlags(flags)
    )
    return context if context.is_valid else None


def _parent(header: str | None) -> Context | None:
    """A context whose current span is ``header``'s; None keeps the current context."""
    trace = _trace_api()
    found = _span_context(header)
    if trace is None or found is None:
        return None
    context: Context = trace.set_span_in_context(trace.NonRecordingSpan(found))
    return context


def _links(headers: Sequence[str | None]) -> list[Link]:
    trace = _trace_api()
    found = [c for c in map(_span_context, headers) if c is not None]
    return [trace.Link(c) for c in found[:MAX_LINKS]] if trace is not None else []


@contextlib.contextmanager
def span(
    name: str,
    attributes: SpanAttributes | None = None,
    *,
    parent: str | None = None,
    links: Sequence[str | None] = (),
) -> Iterator[None]:
    """A span around the block, current inside it (so activities it starts are its children).

    ``parent``: a ``traceparent`` to hang it under instead of the current span. Ended by the
    replay-safe span itself only when live: not on replay, nor when its workflow is evicted.
    """
    tracer = _tracer()
    trace = _trace_api()
    context_api = sys.modules.get("opentelemetry.context")
    if tracer is None or trace is None or context_api is None:
        yield
        return
    base = _parent(parent)
    current = tracer.start_span(name, context=base, attributes=attributes, links=_links(links))
    context = trace.set_span_in_context(current, base)
    token = context_api.attach(context)
    try:
        yield
    except Exception as err:
        current.record_exception(err)
        current.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(err).__name__}: {err}"))
        raise
    finally:
        current.end()
        _detach(context_api, context, token)


def _detach(context_api: Any, context: Context, token: Any) -> None:
    """Detach where it was attached; a no-op elsewhere.

    A workflow coroutine abandoned at eviction or shutdown is closed wherever garbage
    collection runs it, in another ``contextvars.Context``: OpenTelemetry's ``detach`` would
    log an error with a traceback there (the SDK's own spans guard the same way).
    """
    if context_api.get_current() is not context:
        return
    with contextlib.suppress(ValueError):
        token.var.reset(token)


def record_span(
    name: str, attributes: SpanAttributes | None = None, *, parent: str | None = None
) -> None:
    """A span that ends at once: something happened here (a write was buffered)."""
    tracer = _tracer()
    if tracer is not None:
        tracer.start_span(name, context=_parent(parent), attributes=attributes).end()


def annotate(attributes: SpanAttributes) -> None:
    """Set attributes on the current span (the activity's, the workflow's block's), if any."""
    trace = _trace_api()
    if trace is None:
        return
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attributes(attributes)


@contextlib.contextmanager
def detached() -> Iterator[None]:
    """No current span inside the block: what it sends starts no one's trace.

    A batcher run continues as new inside it, so its next run is a trace of its own instead
    of a child in the trace of whichever write started the shard, forever.
    """
    context_api = sys.modules.get("opentelemetry.context")
    if context_api is None or _tracer() is None:
        yield
        return
    empty = context_api.Context()
    token = context_api.attach(empty)
    try:
        yield
    finally:
        _detach(context_api, empty, token)
