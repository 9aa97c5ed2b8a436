"""Writes the Grafana dashboards in ``dashboards/``; edit here, run, commit both."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SEL = 'job=~"$job", instance=~"$instance"'
RATE = "$__rate_interval"


def variables(anchor_metric: str) -> list[dict[str, Any]]:
    """Datasource, then job (per service) and instance (per pod) filters."""

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

    return [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus"},
        query_var("job", f"label_values({anchor_metric}, job)"),
        query_var("instance", f'label_values({anchor_metric}{{job=~"$job"}}, instance)'),
    ]


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


def dashboard(uid: str, title: str, panels: list[dict[str, Any]], anchor: str) -> dict[str, Any]:
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
        "templating": {"list": variables(anchor)},
        "panels": panels,
    }


def write_batching() -> dict[str, Any]:
    rows = "write_batcher_rows_total"
    panels = [
        panel(
            "Write throughput (rows/s)",
            {"{{outcome}}": f"sum by (outcome) (rate({rows}{{{SEL}}}[{RATE}]))"},
            "ops",
            (0, 0),
        ),
        panel(
            "Batch size (requests per batch)",
            quantiles("write_batcher_batch_size")
            | {
                "mean": f"sum(rate(write_batcher_batch_size_sum{{{SEL}}}[{RATE}])) / sum(rate(write_batcher_batch_size_count{{{SEL}}}[{RATE}]))"
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
            "Caller write latency (submit to ack)",
            quantiles("write_batcher_caller_write_latency_seconds"),
            "s",
            (0, 16),
        ),
        panel(
            "Rejections, ack failures, confirmation timeouts (/s)",
            {
                "rows rejected": f'sum(rate({rows}{{outcome="rejected", {SEL}}}[{RATE}]))',
                "acks failed": f'sum(rate(write_batcher_acks_total{{result="failed", {SEL}}}[{RATE}]))',
                "confirmation timeouts": f"sum(rate(write_batcher_confirmation_timeouts_total{{{SEL}}}[{RATE}]))",
            },
            "ops",
            (12, 16),
        ),
        panel(
            "Continue-as-new rate (runs/min)",
            {
                "{{job}}": f"sum by (job) (rate(write_batcher_continue_as_new_total{{{SEL}}}[{RATE}])) * 60"
            },
            "short",
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
    ]
    return dashboard("write-batching", "Write batching", panels, "temporal_num_pollers")


def sdk_workers() -> dict[str, Any]:
    panels = [
        panel(
            "Workflow task schedule-to-start",
            quantiles("temporal_workflow_task_schedule_to_start_latency_seconds", "task_queue"),
            "s",
            (0, 0),
        ),
        panel(
            "Activity schedule-to-start",
            quantiles("temporal_activity_schedule_to_start_latency_seconds", "task_queue"),
            "s",
            (12, 0),
        ),
        panel(
            "Task slots used",
            {
                "{{instance}} {{worker_type}}": f"sum by (instance, worker_type) (temporal_worker_task_slots_used{{{SEL}}})"
            },
            "short",
            (0, 8),
        ),
        panel(
            "Task slots available",
            {
                "{{instance}} {{worker_type}}": f"sum by (instance, worker_type) (temporal_worker_task_slots_available{{{SEL}}})"
            },
            "short",
            (12, 8),
        ),
        panel(
            "Sticky cache",
            {
                "size {{instance}}": f"sum by (instance) (temporal_sticky_cache_size{{{SEL}}})",
                "hits/s {{instance}}": f"sum by (instance) (rate(temporal_sticky_cache_hit_total{{{SEL}}}[{RATE}]))",
            },
            "short",
            (0, 16),
        ),
        panel(
            "Poll and request failures (/s)",
            {
                "poll failures {{operation}}": f"sum by (operation) (rate(temporal_long_request_failure_total{{{SEL}}}[{RATE}]))",
                "request failures {{operation}}": f"sum by (operation) (rate(temporal_request_failure_total{{{SEL}}}[{RATE}]))",
                "pollers {{poller_type}}": f"sum by (poller_type) (temporal_num_pollers{{{SEL}}})",
            },
            "short",
            (12, 16),
        ),
        panel(
            "Workflow task execution latency",
            quantiles("temporal_workflow_task_execution_latency_seconds"),
            "s",
            (0, 24),
        ),
        panel(
            "Activity execution latency",
            quantiles("temporal_activity_execution_latency_seconds", "activity_type"),
            "s",
            (12, 24),
        ),
    ]
    return dashboard("temporal-sdk-workers", "Temporal SDK workers", panels, "temporal_num_pollers")


if __name__ == "__main__":
    for name, board in (
        ("write-batching", write_batching()),
        ("temporal-sdk-workers", sdk_workers()),
    ):
        (HERE / "dashboards" / f"{name}.json").write_text(json.dumps(board, indent=2) + "\n")
