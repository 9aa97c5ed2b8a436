"""Writes the Grafana dashboards in ``dashboards/``; edit here, run, commit both."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SEL = 'job=~"$job", instance=~"$instance"'
# For SDK series, which all carry the Temporal namespace; process_* and the pool gauges do not.
NS_SEL = f'{SEL}, namespace=~"$namespace"'
RATE = "$__rate_interval"
FLUSH_ACTIVITY = 'activity_type="flush_batch"'


def variables(anchor_metric: str, namespace: bool = False) -> list[dict[str, Any]]:
    """Datasource, then job (per service), instance (per pod) and optionally namespace filters."""

    def query_var(name: str, query: str) -> dict[str, Any]:
        return {
            "name": name,
            "label": name,
            "type": "query",
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "query": {"query": query, "refId": name},
            "definition": query,
            "refresh": 2,
            "multi": True,
            "includeAll": True,
            "allValue": ".*",
            "current": {"text": "All", "value": "$__all"},
            "sort": 1,
        }

    found = [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus"},
        query_var("job", f"label_values({anchor_metric}, job)"),
        query_var("instance", f'label_values({anchor_metric}{{job=~"$job"}}, instance)'),
    ]
    if namespace:
        found.append(query_var("namespace", f"label_values({anchor_metric}{{{SEL}}}, namespace)"))
    return found


def panel(
    title: str, exprs: dict[str, str], unit: str, grid: tuple[int, int], description: str = ""
) -> dict[str, Any]:
    x, y = grid
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"x": x, "y": y, "w": 12, "h": 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "expr": expr,
                "legendFormat": legend,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
            }
            for i, (legend, expr) in enumerate(exprs.items())
        ],
    }


def quantiles(metric: str, by: str = "") -> dict[str, str]:
    group = f"{by}, le" if by else "le"
    return {
        f"p{q}{' {{' + by + '}}' if by else ''}": (
            f"histogram_quantile(0.{q}, sum by ({group}) (rate({metric}_bucket{{{SEL}}}[{RATE}])))"
        )
        for q in (50, 99)
    }


def row(title: str, y: int) -> dict[str, Any]:
    return {"type": "row", "title": title, "collapsed": False, "panels": [],
            "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}}  # fmt: skip


def rate(metric: str, by: str = "", where: str = "", sel: str = SEL) -> str:
    """sum by (by) (rate(metric{where, dashboard filters}[$__rate_interval]))."""
    group = f" by ({by})" if by else ""
    matchers = f"{where}, {sel}" if where else sel
    return f"sum{group} (rate({metric}{{{matchers}}}[{RATE}]))"


def quantile(q: str, metric: str, by: str, sel: str = SEL) -> str:
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{{{sel}}}[{RATE}])))"


def rows_of(sections: list[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Lay out titled rows of panels two by two, as temporalio/dashboards does."""
    laid: list[dict[str, Any]] = []
    y = 0
    for title, panels in sections:
        laid.append(row(title, y))
        y += 1
        for i, p in enumerate(panels):
            p["gridPos"].update({"x": 12 * (i % 2), "y": y + 8 * (i // 2)})
        laid += panels
        y += 8 * ((len(panels) + 1) // 2)
    return laid


def dashboard(
    uid: str, title: str, panels: list[dict[str, Any]], anchor: str, namespace: bool = False
) -> dict[str, Any]:
    for i, p in enumerate(panels, start=1):
        p["id"] = i
    return {
        "uid": uid,
        "title": title,
        "tags": ["temporal", "write-batching"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": variables(anchor, namespace)},
        "panels": panels,
    }


def write_batching() -> dict[str, Any]:
    rows = "write_batcher_rows_total"
    panels = [
        panel(
            "Write throughput (rows/s)",
            {"{{outcome}}": rate(rows, "outcome")},
            "ops",
            (0, 0),
            "written, already_written, key_exists, superseded, rejected, withdrawn",
        ),
        panel(
            "Batch size (requests per batch)",
            quantiles("write_batcher_batch_size")
            | {
                "mean": f"{rate('write_batcher_batch_size_sum')} / {rate('write_batcher_batch_size_count')}"
            },
            "short",
            (12, 0),
        ),
        panel(
            "Flush latency (activity)",
            quantiles("write_batcher_flush_duration_seconds"),
            "s",
            (0, 8),
        ),
        panel(
            "Pending requests per shard",
            {"{{shard}}": f"max by (shard) (write_batcher_pending_requests{{{SEL}}})"},
            "short",
            (12, 8),
        ),
        panel(
            "Failing flushes and dead letters (/min)",
            {
                "flushes without a write": f"{rate('write_batcher_flush_failures_total')} * 60",
                "dead letters {{result}}": f"{rate('write_batcher_dead_letters_total', 'result')} * 60",
                "flush_batch activity failures": rate(
                    "temporal_activity_execution_failed_total", where=FLUSH_ACTIVITY
                )
                + " * 60",
            },
            "short",
            (0, 16),
            "A database outage shows here within one flush timeout (BATCH_FLUSH_TIMEOUT_SECONDS)",
        ),
        panel(
            "Rejections, withdrawals, confirmation timeouts (/s)",
            {
                "rows rejected": rate(rows, where='outcome="rejected"'),
                "rows withdrawn": rate(rows, where='outcome="withdrawn"'),
                "confirmation timeouts": rate("write_batcher_confirmation_timeouts_total"),
            },
            "ops",
            (12, 16),
        ),
        panel(
            "Caller write latency (submit to ack)",
            quantiles("write_batcher_caller_write_latency_seconds"),
            "s",
            (0, 24),
        ),
        panel(
            "Database pool",
            {
                "in use {{instance}}": f"write_batcher_db_pool_connections_in_use{{{SEL}}}",
                "open {{instance}}": f"write_batcher_db_pool_connections{{{SEL}}}",
                "max {{instance}}": f"write_batcher_db_pool_connections_max{{{SEL}}}",
            },
            "short",
            (12, 24),
        ),
        panel(
            "Continue-as-new rate (runs/min)",
            {"{{job}}": f"{rate('write_batcher_continue_as_new_total', 'job')} * 60"},
            "short",
            (0, 32),
        ),
        panel(
            "Workflow task failures (/min)",
            {
                "{{workflow_type}} {{failure_reason}}": f"{rate('temporal_workflow_task_execution_failed_total', 'workflow_type, failure_reason')} * 60"
            },
            "short",
            (12, 32),
            "A failing workflow task stalls its workflow (batcher shard or caller) until fixed",
        ),
        panel(
            "Acks to callers' write activities (/s)",
            {"{{result}}": rate("write_batcher_ack_deliveries_total", "result")},
            "ops",
            (0, 40),
            "Completed by the flushes, by id: delivered; gone (the caller's activity had ended); "
            "failed (the Temporal frontend could not be reached: the caller sends its write again)",
        ),
    ]
    return dashboard("write-batching", "Write batching", panels, "temporal_num_pollers")


def _p(
    title: str, exprs: dict[str, str], unit: str = "short", description: str = ""
) -> dict[str, Any]:
    return panel(title, exprs, unit, (0, 0), description)


def sdk_workers() -> dict[str, Any]:
    """temporalio/dashboards' Core SDK dashboard (sdk/temporal-core-sdks-otel.json), adapted.

    Same rows and panel titles; our /metrics names (``_total`` counters, ``_seconds``
    histograms instead of milliseconds), job/instance filters next to its namespace one. Its
    CPU / Memory placeholders are real panels here (process_* from the workers' own
    /metrics). No local activity row: neither service runs local activities.
    """
    p95 = "0.95"

    def r(metric: str, by: str) -> str:
        return rate(metric, by, sel=NS_SEL)

    def q(metric: str, by: str) -> str:
        return quantile(p95, metric, by, sel=NS_SEL)

    def gauge(metric: str, by: str) -> str:
        return f"sum by ({by}) ({metric}{{{NS_SEL}}})"

    target = "{{job}} {{instance}}"
    sections = [
        ("CPU / Memory", [
            _p("CPU usage", {target: f"sum by (job, instance) (rate(process_cpu_seconds_total{{{SEL}}}[{RATE}]))"}, "percentunit", "CPU seconds per second of each worker process: 100% is one core busy"),
            _p("Memory usage", {target: f"sum by (job, instance) (process_resident_memory_bytes{{{SEL}}})"}, "bytes", "Resident set size of each worker process"),
            _p("Open file descriptors", {target: f"sum by (job, instance) (process_open_fds{{{SEL}}})"}, "short", "Sockets (Temporal, PostgreSQL, scrapes) and files; the limit is process_max_fds"),
        ]),
        ("Requests", [
            _p("RPC Requests Vs Failures", {"requests {{namespace}}": r("temporal_request_total", "namespace"), "failures {{namespace}}": r("temporal_request_failure_total", "namespace")}),
            _p("RPC Failures Per Operation", {"{{operation}}": r("temporal_request_failure_total", "namespace, operation")}),
            _p("RPC Requests Per Operation", {"{{operation}}": r("temporal_request_total", "namespace, operation")}),
            _p("RPC Latencies (p95)", {"{{operation}}": q("temporal_request_latency_seconds", "namespace, operation")}, "s"),
        ]),
        ("Long Requests", [
            _p("Long RPC Failures Per Operation", {"{{operation}}": r("temporal_long_request_failure_total", "namespace, operation")}),
            _p("Long RPC Latencies (p95)", {"{{operation}}": q("temporal_long_request_latency_seconds", "namespace, operation")}, "s"),
        ]),
        ("Workflow", [
            _p("Workflow Completion", {"{{workflow_type}}": r("temporal_workflow_completed_total", "namespace, workflow_type")}),
            _p("Workflow End-To-End Latencies", {"{{workflow_type}}": q("temporal_workflow_endtoend_latency_seconds", "namespace, workflow_type")}, "s"),
            _p("Workflow Failures By Type", {"{{workflow_type}}": r("temporal_workflow_failed_total", "namespace, workflow_type")}),
        ]),
        ("Workflow Task Processing", [
            _p("Workflow Task Throughput", {"{{task_queue}}": r("temporal_workflow_task_queue_poll_succeed_total", "namespace, task_queue")}),
            _p("Workflow Task Schedule To Start (p95)", {"{{task_queue}}": q("temporal_workflow_task_schedule_to_start_latency_seconds", "namespace, task_queue")}, "s"),
            _p("Workflow Task Failed", {"{{workflow_type}} {{failure_reason}}": r("temporal_workflow_task_execution_failed_total", "namespace, workflow_type, failure_reason")}),
            _p("Workflow Task Execution Latency (p95)", {"{{workflow_type}}": q("temporal_workflow_task_execution_latency_seconds", "namespace, workflow_type")}, "s"),
            _p("Workflow Task Replay Latency (p95)", {"{{workflow_type}}": q("temporal_workflow_task_replay_latency_seconds", "namespace, workflow_type")}, "s", "The Core SDK's time applying a task's history events, recorded on the task where the worker is caught up with history: every task of a cached workflow, the last one of a replay (eviction, restart)"),
            _p("Workflow Task Empty Polls", {"{{task_queue}}": r("temporal_workflow_task_queue_poll_empty_total", "namespace, task_queue")}),
        ]),
        ("Activities", [
            _p("Activity Throughput", {"{{activity_type}}": r("temporal_activity_schedule_to_start_latency_seconds_count", "namespace, activity_type")}),
            _p("Activity Failed", {"{{activity_type}}": r("temporal_activity_execution_failed_total", "namespace, activity_type")}),
            _p("Activity Execution Latencies (p95)", {"{{activity_type}}": q("temporal_activity_execution_latency_seconds", "namespace, activity_type")}, "s"),
        ]),
        ("Activity Task Processing", [
            _p("Empty Activity Polls", {"{{task_queue}}": r("temporal_activity_poll_no_task_total", "namespace, task_queue")}),
            _p("Activity Schedule To Start (p95)", {"{{task_queue}}": q("temporal_activity_schedule_to_start_latency_seconds", "namespace, task_queue")}, "s"),
        ]),
        ("Slots", [
            _p("Slots Available", {"{{instance}} {{worker_type}}": gauge("temporal_worker_task_slots_available", "instance, worker_type")}),
            _p("Slots Used", {"{{instance}} {{worker_type}}": gauge("temporal_worker_task_slots_used", "instance, worker_type")}),
            _p("Pollers", {"{{instance}} {{poller_type}}": gauge("temporal_num_pollers", "instance, poller_type")}),
        ]),
        ("Sticky Cache", [
            _p("Sticky Cache Size", {"{{instance}}": gauge("temporal_sticky_cache_size", "instance")}),
            _p("Sticky Cache Forced Eviction", {"{{instance}}": r("temporal_sticky_cache_total_forced_eviction_total", "instance")}),
            _p("Sticky Cache Hit", {"{{instance}}": r("temporal_sticky_cache_hit_total", "instance")}),
            _p("Sticky Cache Miss", {"{{instance}} {{task_queue}}": r("temporal_sticky_cache_miss_total", "instance, task_queue")}),
        ]),
    ]  # fmt: skip
    return dashboard(
        "temporal-sdk-workers",
        "Temporal SDK workers",
        rows_of(sections),
        "temporal_num_pollers",
        namespace=True,
    )


if __name__ == "__main__":
    for name, board in (
        ("write-batching", write_batching()),
        ("temporal-sdk-workers", sdk_workers()),
    ):
        (HERE / "dashboards" / f"{name}.json").write_text(json.dumps(board, indent=2) + "\n")
