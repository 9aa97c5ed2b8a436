"""Workflow-side batcher metrics through the replay-safe ``workflow.metric_meter()``."""

from __future__ import annotations

from temporalio.common import MetricMeter

from shared.payloads import FlushInput, FlushResult


class BatcherMetrics:
    """Counters and histograms a batcher workflow records; replays never double-count them."""

    def __init__(self, meter: MetricMeter) -> None:
        self._batch_size = meter.create_histogram(
            "write_batcher_batch_size", "Requests per flushed batch", "requests"
        )
        self._batches = meter.create_counter("write_batcher_batches", "Batches flushed")
        self._rows = meter.create_counter(
            "write_batcher_rows", "Rows by outcome: written, already_written, rejected"
        )
        self._acks = meter.create_counter("write_batcher_acks", "Acks by result: sent, failed")
        self._continue_as_new = meter.create_counter(
            "write_batcher_continue_as_new", "Batcher runs continued as new"
        )

    def flushed(self, flush: FlushInput, result: FlushResult) -> None:
        self._batches.add(1)
        if flush.requests:
            self._batch_size.record(len(flush.requests))
        for outcome, count in (
            ("written", result.written),
            ("already_written", result.already_written),
            ("rejected", result.rejected),
        ):
            if count:
                self._rows.add(count, {"outcome": outcome})
        if result.acks_sent:
            self._acks.add(result.acks_sent, {"result": "sent"})
        if result.acks_failed:
            self._acks.add(result.acks_failed, {"result": "failed"})

    def continued_as_new(self) -> None:
        self._continue_as_new.add(1)
