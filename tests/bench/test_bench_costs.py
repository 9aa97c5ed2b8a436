"""The bench's cost columns: the dev server's action counter as scraped, and the arithmetic."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.results import cost_per_write, markdown, summarize
from devstack.temporal_server import TemporalDevServer
from loadtest.actions import (
    action_delta,
    dev_server_metrics_url,
    parse_actions,
    per_write,
    scrape_actions,
)
from write_batcher_kit.client import connect


def _sample(kind: str, namespace: str, operation: str, value: int) -> str:
    labels = f'action_type="{kind}",namespace="{namespace}",operation="{operation}"'
    return f'action{{{labels},service_name="frontend"}} {value}'


SCRAPE = "\n".join(
    [
        "# HELP action action counter",
        "# TYPE action counter",
        _sample("grpc_StartWorkflowExecution", "default", "StartWorkflowExecution", 3),
        _sample("grpc_StartWorkflowExecution", "temporal_system", "StartWorkflowExecution", 2),
        _sample("command_ScheduleActivityTask", "default", "RespondWorkflowTaskCompleted", 5),
        'actions_other{namespace="default",operation="X"} 9',
    ]
)


def test_parse_actions_keeps_the_namespace_and_names_workflow_task_commands() -> None:
    assert parse_actions(SCRAPE) == {
        "StartWorkflowExecution": 3,
        "RespondWorkflowTaskCompleted/command_ScheduleActivityTask": 5,
    }
    assert parse_actions(SCRAPE, "temporal_system") == {"StartWorkflowExecution": 2}
    assert action_delta({"a": 1, "b": 2}, {"a": 1, "b": 5, "c": 1}) == {"b": 3, "c": 1}
    assert per_write({"a": 3, "b": 1}, 2) == {"a": 1.5, "b": 0.5, "total": 2.0}


def test_actions_scraped_from_a_real_dev_server(tmp_path: Path) -> None:
    server = TemporalDevServer(None, log_path=tmp_path / "temporal.log").start()
    try:
        url = dev_server_metrics_url(server.process.argv)
        assert url is not None

        async def scenario() -> dict[str, int]:
            before = await scrape_actions(url)
            client = await connect({"target_host": server.address, "namespace": "default"})
            handle = await client.start_workflow("Nobody", id="wf-1", task_queue="no-worker")
            await handle.signal("ping")
            # The server publishes its counters about once a second.
            for _ in range(20):
                delta = action_delta(before, await scrape_actions(url))
                if delta.get("SignalWorkflowExecution"):
                    return delta
                await asyncio.sleep(0.5)
            return delta

        delta = asyncio.run(scenario())
    finally:
        server.stop()
    assert delta == {"StartWorkflowExecution": 1, "SignalWorkflowExecution": 1}


def _run(title: str, actions: float, events: float, **extra: object) -> dict[str, object]:
    return {
        "title": title,
        "callers": 1,
        "steady_per_s": 10.0,
        "per_s": 9.0,
        "p50_ms": 1.0,
        "p99_ms": 2.0,
        "db_tx": extra.get("db_tx", 0),
        "writes_per_workflow": extra.get("writes", 1),
        "db_tx_per_write": extra.get("tx"),
        "baseline": extra.get("baseline"),
        "history_events_per_workflow": events,
        "actions_per_workflow": {"StartWorkflowExecution": 1.0, "total": actions},
        "cpu_ms_per_workflow": 1.0,
        "peak_rss_mib": {},
        "shards": extra.get("shards", 0),
    }


def test_costs_are_per_row_beyond_the_no_write_baseline() -> None:
    ceiling = _run("ceiling", 2.0, 11.0, writes=0)
    naive = _run("naive", 3.0, 17.0, baseline="ceiling", tx=1.0, db_tx=100)
    naive["actions_per_workflow"]["activity"] = 1.0  # type: ignore[index]
    assert cost_per_write(naive, ceiling) == {
        "beyond": "ceiling",
        "actions": 1.0,
        "actions_by_operation": {"activity": 1.0},
        "history_events": 6.0,
        "db_tx": 1.0,
    }
    two = _run("two", 3.0, 13.0, baseline="ceiling", writes=2)
    assert cost_per_write(two, ceiling)["actions"] == 0.5
    assert cost_per_write(two, ceiling)["history_events"] == 1.0
    batched = _run("batched", 3.1, 14.0, baseline="ceiling", tx=0.01, db_tx=2, shards=1)
    runs = {"ceiling": ceiling, "naive": naive, "batched": batched}
    meta = {"workflows": 100, "concurrency": 10, "warmup": 1, "cpus": 2, "loadavg_start": []}
    summary = summarize(runs, meta)
    assert summary["cost_targets"]["batched"] == {
        "actions_per_write": 1.1,
        "actions_le_1_2": True,
        "history_events_per_write": 3.0,
        "naive_history_events_per_write": 6.0,
        "history_events_le_naive": True,
        "tx_reduction_vs_naive": 100.0,
        "tx_50x_fewer": True,
    }
    assert "| batched | **True** (1.1)" in markdown(summary)
