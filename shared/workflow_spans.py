"""Replay-safe span events from workflow code, only when the TracingInterceptor is active."""

from __future__ import annotations

from opentelemetry.util.types import Attributes
from temporalio.contrib.opentelemetry import TracingWorkflowInboundInterceptor
from temporalio.contrib.opentelemetry.workflow import completed_span


def record_span(name: str, attributes: Attributes = None) -> None:
    """A completed child of the current workflow span (signal handler, run...); no-op untraced.

    ``completed_span`` without the interceptor falls back to the global tracer with a
    DeprecationWarning on every call, so check for the interceptor first.
    """
    if TracingWorkflowInboundInterceptor._from_context() is None:
        return
    completed_span(name, attributes=attributes)
