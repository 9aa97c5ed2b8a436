"""Workflow-side batcher metrics through the replay-safe ``workflow.metric_meter()``."""

from __future__ import annotations

from temporalio.common import MetricMeter

from batcher_service.shard.state import FlushInput, FlushResult

ROW_OUTCOMES = ("written", "already_written", "key_exists", "superseded", "rejected")


class BatcherMetrics:
    """Counters, histograms and gauges a batcher records; replays never double-count them.

    Names are final Prometheus names minus ``_total``, which the exporter adds to counters
    (see deploy/grafana/README.md).
    """

    def __init__(self, meter: MetricMeter, shard: str) -> None:
        self._batch_size = meter.create_histogram(
            "write_batcher_batch_size", "Requests per flushed batch", "requests"
        )
        self._batches = meter.create_counter("write_batcher_batches", "Batches flushed")
        self._rows = meter.create_counter(
            "write_batcher_rows",
            "Rows by outcome: written, already_written, key_exists, superseded, rejected, "
            "withdrawn",
        )
        self._flush_failures = meter.create_counter(
            "write_batcher_flush_failures",
            "Flushes that ended without writing (database unreachable past the flush timeout)",
        )
        self._dropped = meter.create_counter(
            "write_batcher_requests_dropped",
            "Requests not buffered, by reason: duplicate, overloaded, withdrawn",
        )
        self._continue_as_new = meter.create_counter(
            "write_batcher_continue_as_new", "Batcher runs continued as new"
        )
        # The workflow id is the shard: a handful of series, never one per request.
        self._pending = meter.create_gauge(
            "write_batcher_pending_requests", "Requests buffered in a batcher shard", "requests"
        ).with_additional_attributes({"shard": shard})

    def pending(self, count: int) -> None:
        self._pending.set(count)

    def flushed(self, flush: FlushInput, result: FlushResult) -> None:
        self._batches.add(1)
        if flush.requests:
            self._batch_size.record(len(flush.requests))
        counts = (
            result.written,
            result.already_written,
            result.key_exists,
            result.superseded,
            result.rejected,
        )
        # Zeros too: rate() over a series that exists is 0, over a missing one it is empty.
        for outcome, count in zip(ROW_OUTCOMES, counts, strict=True):
            self._rows.add(count, {"outcome": outcome})

    def dropped(self, reason: str) -> None:
        self._dropped.add(1, {"reason": reason})

    def withdrawn(self) -> None:
        self._rows.add(1, {"outcome": "withdrawn"})

    def flush_failed(self) -> None:
        self._flush_failures.add(1)

    def continued_as_new(self) -> None:
        self._continue_as_new.add(1)
