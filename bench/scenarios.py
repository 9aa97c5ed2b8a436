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
from bench.workflows import (
    CEILING_WORKFLOW,
    EMPTY_WORKFLOW,
    GROUP_COMMIT_WORKFLOW,
    NAIVE_WORKFLOW,
    TWO_TABLE_WORKFLOW,
)
from devstack.stack import Stack
from loadtest.actions import action_delta, dev_server_metrics_url, per_write, scrape_actions
from loadtest.dbstats import batch_sizes, settled_xact_commits, size_distribution, vacuum
from loadtest.driver import run_load
from loadtest.progress import Progress, render
from loadtest.readiness import wait_for_ready
from loadtest.temporal_stats import batcher_history_events, total_history_events
from loadtest.verify import verify_writes
from main_service.names import LEDGER_TABLE, MAIN_TASK_QUEUE, PAYMENT_WORKFLOW
from main_service.starter import latency_summary, steady_rate
from write_batcher_kit.client import connect

# After the last completion, before the action counters are read: a last flush is counted.
ACTIONS_SETTLE_S = 2.0


@dataclass(frozen=True)
class Scenario:
    """One measured configuration: which workflow, on which workers, with which settings."""

    key: str
    title: str
    workflow: str
    task_queue: str
    # The callers' worker: ``callers`` processes of it, all on the same task queue.
    caller: str
    # The other workers (a batcher, the group-commit writer), one process each.
    helpers: tuple[tuple[str, dict[str, str]], ...] = ()
    callers: int = 1
    caller_env: dict[str, str] = field(default_factory=dict)
    # Rows each workflow writes (0: the no-write baselines).
    writes_per_workflow: int = 1
    batched: bool = False
    shards: int = field(default=0)
    # Besides its ledger row, each workflow appends an event row (the two-table scenario).
    events: bool = False
    # The same workflow without its write, on as many callers: what "beyond" is measured from.
    baseline: str | None = None

    @property
    def writes(self) -> bool:
        return self.writes_per_workflow > 0

    @property
    def workers(self) -> tuple[tuple[str, dict[str, str]], ...]:
        return (*self.helpers, *((self.caller, self.caller_env),) * self.callers)


def _suffix(callers: int) -> str:
    return "" if callers == 1 else f"_x{callers}"


def _callers(callers: int) -> str:
    return "1 caller" if callers == 1 else f"{callers} callers"


def scenarios(
    shard_counts: tuple[int, ...], tables_file: Path, caller_counts: tuple[int, ...] = (1,)
) -> list[Scenario]:
    """``tables_file``: the demo's tables plus the bench's (bench.two_tables), which the bench
    worker and the two-table scenario's batcher read; the product's workers read the demo's.

    Per caller count (caller worker processes on one queue: 1 and 8 by default): the no-write
    baseline, naive, the batcher at 1 shard and at each of ``shard_counts``, and the
    group-commit peer. The shard count is the batcher's BATCHER_SHARDS.
    """
    tables = {"WRITE_TABLES_FILE": str(tables_file)}
    bench = "bench.worker"
    writer = ("bench.group_commit", tables | {"WORKER_MAX_CONCURRENT_ACTIVITIES": "2000"})
    out = [
        Scenario(
            "empty",
            "empty workflow",
            EMPTY_WORKFLOW,
            BENCH_TASK_QUEUE,
            bench,
            caller_env=tables,
            writes_per_workflow=0,
        )
    ]
    for n in caller_counts:
        sfx, who = _suffix(n), _callers(n)
        base = f"ceiling{sfx}"
        out += [
            Scenario(
                base,
                f"payment without its write, {who}",
                CEILING_WORKFLOW,
                BENCH_TASK_QUEUE,
                bench,
                callers=n,
                caller_env=tables,
                writes_per_workflow=0,
            ),
            Scenario(
                f"naive{sfx}",
                f"naive: one INSERT activity, {who}",
                NAIVE_WORKFLOW,
                BENCH_TASK_QUEUE,
                bench,
                callers=n,
                caller_env=tables,
                baseline=base,
            ),
        ]
        for shards in (1, *(s for s in shard_counts if s != 1)):
            out.append(
                Scenario(
                    f"batched{sfx}" if shards == 1 else f"sharded_{shards}{sfx}",
                    f"batched, {shards} shard{'s' if shards > 1 else ''}, {who}",
                    PAYMENT_WORKFLOW,
                    MAIN_TASK_QUEUE,
                    "main_service",
                    helpers=(("batcher_service", {"BATCHER_SHARDS": str(shards)}),),
                    callers=n,
                    batched=True,
                    shards=shards,
                    baseline=base,
                )
            )
        out.append(
            Scenario(
                f"group_commit{sfx}",
                f"group commit: write activity on a writer queue, {who}",
                GROUP_COMMIT_WORKFLOW,
                BENCH_TASK_QUEUE,
                bench,
                helpers=(writer,),
                callers=n,
                caller_env=tables,
                baseline=base,
            )
        )
    out.append(
        Scenario(
            "two_tables",
            "batched, two rows to two tables per workflow (1 shard, 1 caller)",
            TWO_TABLE_WORKFLOW,
            BENCH_TASK_QUEUE,
            bench,
            helpers=(("batcher_service", tables),),
            caller_env=tables,
            writes_per_workflow=2,
            batched=True,
            shards=1,
            events=True,
            baseline="ceiling",
        )
    )
    return out


async def run_scenario(
    stack: Stack, sc: Scenario, workflows: int, concurrency: int, warmup: int
) -> dict[str, Any]:
    assert stack.temporal_address is not None and stack.database_url is not None
    url = stack.database_url
    metrics_url = dev_server_metrics_url(stack.temporal.process.argv) if stack.temporal else None
    if sc.writes:
        await vacuum(url, (LEDGER_TABLE, EVENTS_TABLE))
    procs = [stack.start_worker(service, **env) for service, env in sc.workers]
    server_pid = stack.temporal.process.pid if stack.temporal else None
    try:
        # Every process polls before anything is measured: 8 callers take a while to start.
        await wait_for_ready(int(p.env["METRICS_PORT"]) for p in procs)
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
        actions_before = None
        if metrics_url:
            # The server publishes its counters about once a second: the warm-up's last ones.
            await asyncio.sleep(ACTIONS_SETTLE_S)
            actions_before = await scrape_actions(metrics_url)
        cpu_before = {p.name: cpu_seconds(p.pid) for p in procs if p.pid}
        server_cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
        progress = Progress(total=workflows)
        ticker = asyncio.create_task(render(progress))
        run_id = f"{sc.key}-{tag}"
        try:
            report = await run_load(
                client,
                workflows,
                concurrency=concurrency,
                run_id=run_id,
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
        # What the run set going (a last flush) is counted; a batcher idling later is not.
        await asyncio.sleep(ACTIONS_SETTLE_S)
        actions = (
            action_delta(actions_before, await scrape_actions(metrics_url))
            if metrics_url and actions_before is not None
            else {}
        )
        caller_events = await total_history_events(
            client, report.completed_ids, id_prefix=f"pay-{run_id}-"
        )
        batcher_events = await batcher_history_events(client) - batcher_before if sc.batched else 0
    finally:
        for proc in procs:
            proc.stop()
    done = report.completed
    rows = done * sc.writes_per_workflow
    db_tx = await settled_xact_commits(url, settle=1.5) - xact_before if sc.writes else 0
    result: dict[str, Any] = {
        "title": sc.title,
        "callers": sc.callers,
        "workflows": workflows,
        "completed": done,
        "failed": report.failed,
        "failures": report.failures,
        "wall_seconds": report.wall_seconds,
        "per_s": round(done / report.wall_seconds, 2) if report.wall_seconds else 0.0,
        "steady_per_s": steady_rate(report.close_times),
        **latency_summary(report.latencies_ms),
        "writes_per_workflow": sc.writes_per_workflow,
        "baseline": sc.baseline,
        "db_tx": db_tx,
        "db_tx_per_write": round(db_tx / rows, 4) if rows else None,
        "history_events": {"callers": caller_events, "batchers": batcher_events},
        "history_events_per_workflow": round((caller_events + batcher_events) / done, 2)
        if done
        else None,
        "actions": actions,
        "actions_per_workflow": per_write(actions, done),
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
