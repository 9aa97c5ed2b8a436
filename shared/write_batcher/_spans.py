"""Replay-safe span events from workflow code, only when the TracingInterceptor is active."""

from __future__ import annotations

from collections.abc import Mapping

try:
    from temporalio.contrib.opentelemetry import TracingWorkflowInboundInterceptor
    from temporalio.contrib.opentelemetry.workflow import completed_span
except ImportError:  # opentelemetry is optional for the caller library: no spans then
    TracingWorkflowInboundInterceptor = None  # type: ignore[assignment,misc]
    completed_span = None  # type: ignore[assignment]

SpanAttributes = Mapping[str, str | bool | int | float]


def record_span(name: str, attributes: SpanAttributes | None = None) -> None:
    """A completed child of the current workflow span (signal handler, run...); no-op untraced.

    ``completed_span`` without the interceptor falls back to the global tracer with a
    DeprecationWarning on every call, so check for the interceptor first.
    """
    if TracingWorkflowInboundInterceptor is None or completed_span is None:
        return
    if TracingWorkflowInboundInterceptor._from_context() is None:
        return
    completed_span(name, attributes=attributes)
