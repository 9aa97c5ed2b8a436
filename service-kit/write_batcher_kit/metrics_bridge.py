"""Temporal SDK metrics (a drained ``MetricBuffer``) re-exposed through prometheus-client."""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BUFFERED_METRIC_KIND_GAUGE,
    BufferedMetricUpdate,
    MetricBuffer,
    MetricBufferDurationFormat,
)

# Seconds: from a fast local activity to a caller that waited out a long ack timeout.
DURATION_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
)  # fmt: skip
# Counts (requests per batch and the like): one request up to a very large batch.
COUNT_BUCKETS: tuple[float, ...] = (
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
)  # fmt: skip
# Series only created when something goes wrong; declared up front so dashboards, alerts
# and the tests that check them against /metrics always find the name.
ALWAYS_DECLARED: tuple[tuple[str, str], ...] = (
    ("temporal_long_request_failure", "Failed long polls (worker task polls) by operation"),
    ("temporal_request_failure", "Failed Temporal requests by operation"),
    ("write_batcher_confirmation_timeouts", "Writes whose caller gave up waiting for the ack"),
    ("write_batcher_caller_resends", "Writes sent again because their shard did not know them"),
    ("write_batcher_continue_as_new", "Batcher runs continued as new"),
    ("write_batcher_flush_failures", "Flushes that ended without writing"),
    ("write_batcher_requests_dropped", "Requests not buffered: duplicate, overloaded, withdrawn"),
    ("temporal_workflow_task_execution_failed", "Workflow tasks that failed"),
    ("temporal_workflow_failed", "Workflows that failed"),
    ("temporal_activity_execution_failed", "Activity executions that failed"),
    ("temporal_local_activity_execution_failed", "Local activity executions that failed"),
    ("temporal_sticky_cache_miss", "Workflow tasks that missed the sticky cache"),
    ("temporal_sticky_cache_total_forced_eviction", "Workflows evicted from the sticky cache"),
    ("temporal_workflow_task_queue_poll_empty", "Workflow task polls that found no task"),
    ("temporal_activity_poll_no_task", "Activity task polls that found no task"),
)

LabelKey = tuple[tuple[str, str], ...]


@dataclass
class _Histogram:
    counts: list[int]
    total: float = 0.0
    samples: int = 0


@dataclass
class _Family:
    kind: int
    description: str
    buckets: tuple[float, ...] = ()
    values: dict[LabelKey, float] = field(default_factory=dict)
    histograms: dict[LabelKey, _Histogram] = field(default_factory=dict)


def prometheus_name(name: str, unit: str | None) -> str:
    """Base name in Prometheus style: durations in seconds end in ``_seconds``."""
    if unit == "s" and not name.endswith("_seconds"):
        return f"{name}_seconds"
    return name


def _labels(attributes: Mapping[str, str | int | float | bool]) -> LabelKey:
    def text(value: str | int | float | bool) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    return tuple(sorted((k, text(v)) for k, v in attributes.items()))


class SdkMetricsCollector(Collector):
    """Accumulates buffered SDK updates; counters get ``_total``, histograms fixed buckets."""

    def __init__(self, buffer_size: int = 100_000) -> None:
        self.buffer = MetricBuffer(buffer_size, MetricBufferDurationFormat.SECONDS)
        self._lock = threading.Lock()
        self._families: dict[str, _Family] = {
            name: _Family(int(BUFFERED_METRIC_KIND_COUNTER), text) for name, text in ALWAYS_DECLARED
        }

    def drain(self) -> int:
        """Move buffered updates into the accumulated state; call often so none are dropped."""
        try:
            updates = self.buffer.retrieve_updates()
        except RuntimeError:
            return 0  # no Runtime was created with this buffer yet
        with self._lock:
            self._apply(updates)
        return len(updates)

    def _apply(self, updates: Sequence[BufferedMetricUpdate]) -> None:
        for update in updates:
            metric = update.metric
            name = prometheus_name(metric.name, metric.unit)
            family = self._families.get(name)
            if family is None:
                buckets = DURATION_BUCKETS if metric.unit == "s" else COUNT_BUCKETS
                family = _Family(int(metric.kind), metric.description or name, buckets)
                self._families[name] = family
            key = _labels(update.attributes)
            value = float(update.value)
            if family.kind == BUFFERED_METRIC_KIND_COUNTER:
                family.values[key] = family.values.get(key, 0.0) + value
            elif family.kind == BUFFERED_METRIC_KIND_GAUGE:
                family.values[key] = value
            else:
                hist = family.histograms.get(key)
                if hist is None:
                    hist = family.histograms[key] = _Histogram([0] * (len(family.buckets) + 1))
                hist.counts[bisect_left(family.buckets, value)] += 1
                hist.total += value
                hist.samples += 1

    def collect(self) -> Iterable[Metric]:
        self.drain()
        with self._lock:
            return [self._export(name, family) for name, family in sorted(self._families.items())]

    @staticmethod
    def _export(name: str, family: _Family) -> Metric:
        label_names = sorted({k for key in (*family.values, *family.histograms) for k, _ in key})

        def values_of(key: LabelKey) -> list[str]:
            present = dict(key)
            return [present.get(label, "") for label in label_names]

        if family.kind == BUFFERED_METRIC_KIND_COUNTER:
            counter = CounterMetricFamily(name, family.description, labels=label_names)
            for key, value in family.values.items():
                counter.add_metric(values_of(key), value)
            return counter
        if family.kind == BUFFERED_METRIC_KIND_GAUGE:
            gauge = GaugeMetricFamily(name, family.description, labels=label_names)
            for key, value in family.values.items():
                gauge.add_metric(values_of(key), value)
            return gauge
        histogram = HistogramMetricFamily(name, family.description, labels=label_names)
        for key, hist in family.histograms.items():
            cumulative, running = [], 0
            for bound, count in zip((*family.buckets, float("inf")), hist.counts, strict=True):
                running += count
                cumulative.append((_bound_text(bound), float(running)))
            histogram.add_metric(values_of(key), cumulative, hist.total)
        return histogram


def _bound_text(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))
