"""The bench's scenarios and how one is run: its workers, a warm-up, the measured load."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import cpu_seconds, peak_rss_mib
from bench.two_tables import EVENTS_TABLE, verify_events
from bench.worker import BENCH_TASK_QUEUE
from bench.workflows import CEILING_WORKFLOW, EMPTY_WORKFLOW, NAIVE_WORKFLOW, TWO_TABLE_WORKFLOW
from devstack.stack import Stack
from loadtest.dbstats import batch_sizes, settled_xact_commits, size_distribution, vacuum
from loadtest.driver import run_load
from loadtest.progress import Progress, render
from loadtest.temporal_stats import batcher_history_events, sampled_history_events
from loadtest.verify import verify_writes
from main_service.names import LEDGER_TABLE, MAIN_TASK_QUEUE, PAYMENT_WORKFLOW
from main_service.starter import latency_summary, steady_rate
from write_batcher_kit.client import connect


@dataclass(frozen=True)
class Scenario:
    """One measured configuration: which workflow, on which workers, with which settings."""

    key: str
    title: str
    workflow: str
    task_queue: str
    workers: tuple[tuple[str, dict[str, str]], ...]
    writes: bool = True
    batched: bool = False
    shards: int = field(default=0)
    # Besides its ledger row, each workflow appends an event row (the two-table scenario).
    events: bool = False


def scenarios(shard_counts: tuple[int, ...], tables_file: Path) -> list[Scenario]:
    """``tables_file``: the demo's tables plus the bench's (bench.two_tables), which the bench
    worker and the two-table scenario's batcher read; the product's workers read the demo's."""
    tables = {"WRITE_TABLES_FILE": str(tables_file)}
    bench_worker = (("bench.worker", tables),)
    fixed = [
        Scenario("empty", "empty workflow", EMPTY_WORKFLOW, BENCH_TASK_QUEUE, bench_worker, False),
        Scenario(
            "ceiling",
            "payment without its write",
            CEILING_WORKFLOW,
            BENCH_TASK_QUEUE,
            bench_worker,
            False,
        ),
        Scenario(
            "naive", "naive: one INSERT activity", NAIVE_WORKFLOW, BENCH_TASK_QUEUE, bench_worker
        ),
        Scenario(
            "batched",
            "batched, defaults (1 shard)",
            PAYMENT_WORKFLOW,
            MAIN_TASK_QUEUE,
            (("batcher_service", {}), ("main_service", {})),
            batched=True,
            shards=1,
        ),
    ]
    fixed.append(
        Scenario(
            "two_tables",
            "batched, two rows to two tables per workflow (1 shard)",
            TWO_TABLE_WORKFLOW,
            BENCH_TASK_QUEUE,
            (("batcher_service", tables), *bench_worker),
            batched=True,
            shards=1,
            events=True,
        )
    )
    for n in shard_counts:
        fixed.append(
            Scenario(
                f"sharded_{n}",
                f"batched, {n} shards",
                PAYMENT_WORKFLOW,
                MAIN_TASK_QUEUE,
                (("batcher_service", {}), ("main_service", {"BATCHER_SHARDS": str(n)})),
                batched=True,
                shards=n,
            )
        )
    return fixed


async def run_scenario(
    stack: Stack, sc: Scenario, workflows: int, concurrency: int, warmup: int
) -> dict[str, Any]:
    assert stack.temporal_address is not None and stack.database_url is not None
    url = stack.database_url
    if sc.writes:
        await vacuum(url, (LEDGER_TABLE, EVENTS_TABLE))
    procs = [stack.start_worker(service, **env) for service, env in sc.workers]
    server_pid = stack.temporal.process.pid if stack.temporal else None
    try:
        client = await connect({"target_host": stack.temporal_address, "namespace": "default"})
        tag = uuid.uuid4().hex[:6]
        await run_load(
            client,
            warmup,
            concurrency=warmup,
            run_id=f"warm-{sc.key}-{tag}",
            workflow=sc.workflow,
            task_queue=sc.task_queue,
        )
        # Counted from after the warm-up (the pools are connected by then) until the workers
        # have exited: idle backends publish their counters within PostgreSQL's 10 s stats
        # interval and exiting ones at once, so the delta is the measured writes' own.
        xact_before = await settled_xact_commits(url) if sc.writes else 0
        batcher_before = await batcher_history_events(client) if sc.batched else 0
        cpu_before = {p.name: cpu_seconds(p.pid) for p in procs if p.pid}
        server_cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
        progress = Progress(total=workflows)
        ticker = asyncio.create_task(render(progress))
        try:
            report = await run_load(
                client,
                workflows,
                concurrency=concurrency,
                run_id=f"{sc.key}-{tag}",
                progress=progress,
                workflow=sc.workflow,
                task_queue=sc.task_queue,
            )
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        cpu = {p.name: round(cpu_seconds(p.pid) - cpu_before[p.name], 1) for p in procs if p.pid}
        if server_pid:
            cpu["temporal-server"] = round(cpu_seconds(server_pid) - server_cpu_before, 1)
        rss = {p.name: peak_rss_mib(p.pid) for p in procs if p.pid}
        events = await sampled_history_events(client, report.completed_ids) * report.completed
        if sc.batched:
            events += await batcher_history_events(client) - batcher_before
    finally:
        for proc in procs:
            proc.stop()
    done = report.completed
    db_tx = await settled_xact_commits(url, settle=1.5) - xact_before if sc.writes else 0
    result: dict[str, Any] = {
        "title": sc.title,
        "workflows": workflows,
        "completed": done,
        "failed": report.failed,
        "failures": report.failures,
        "wall_seconds": report.wall_seconds,
        "per_s": round(done / report.wall_seconds, 2) if report.wall_seconds else 0.0,
        "steady_per_s": steady_rate(report.close_times),
        **latency_summary(report.latencies_ms),
        "db_tx": db_tx,
        "db_tx_per_write": round(db_tx / done, 3) if sc.writes and done else None,
        "history_events_per_workflow": round(events / done, 2) if done else None,
        "cpu_seconds": cpu,
        "cpu_ms_per_workflow": round(sum(cpu.values()) * 1000 / done, 1) if done else None,
        "peak_rss_mib": rss,
    }
    if sc.writes:
        check = await verify_writes(url, report.completed_ids)
        result |= {"lost": check.lost, "duplicates": check.duplicates}
        result["batch_size"] = size_distribution(await batch_sizes(url, report.completed_ids))
    if sc.events:
        lost, duplicates = await verify_events(url, report.completed_ids)
        result |= {"lost": result["lost"] + lost, "duplicates": result["duplicates"] + duplicates}
        result |= {"rows_per_workflow": 2, "rows_per_s": round(2 * result["steady_per_s"], 2)}
    if sc.batched:
        result["shards"] = sc.shards
    return result
