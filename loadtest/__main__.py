"""``python -m loadtest``: exit 0 when clean, 1 on a lost or duplicate write, 3 on failures."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.client import Client

from loadtest.actions import action_delta, dev_server_metrics_url, per_write, scrape_actions
from loadtest.dbstats import autovacuum_paused, settled_xact_commits
from loadtest.driver import run_load
from loadtest.options import parse, worker_settings
from loadtest.progress import Progress, render
from loadtest.readiness import wait_for_pollers, wait_for_ready
from loadtest.report import build_report
from loadtest.report import render as render_report
from loadtest.shard_pulse import shard_pulse
from loadtest.temporal_stats import (
    batcher_history_events,
    batcher_totals,
    total_history_events,
)
from main_service.names import MAIN_TASK_QUEUE
from write_batcher.contract import BATCHER_TASK_QUEUE
from write_batcher_kit.client import connect
from write_batcher_kit.lifecycle import exit_process, stop_children_on_sigterm
from write_batcher_kit.settings import CommonSettings, SettingsError

ACTIONS_SETTLE_S = 2.0


async def _drive(
    args: Any,
    temporal: dict[str, Any],
    database_url: str,
    *,
    worker_ports: Sequence[int] | None = None,
    own_database: bool = False,
) -> dict[str, Any]:
    client = await connect(temporal)
    if worker_ports is not None:
        await wait_for_ready(worker_ports)
        await wait_for_pollers(client, [MAIN_TASK_QUEUE, BATCHER_TASK_QUEUE])
    async with contextlib.AsyncExitStack() as scope:
        if own_database:
            # As the bench does: autovacuum's visits are transactions too, and only our own
            # server may be told to stop them.
            await scope.enter_async_context(autovacuum_paused(database_url))
        result = await _measure(args, client, database_url)
    result["autovacuum_paused"] = own_database
    return result


async def _measure(args: Any, client: Client, database_url: str) -> dict[str, Any]:
    # Settled: the workers' start-up (migrations, readiness checks) publishes late and would
    # otherwise be counted as the run's.
    before = await settled_xact_commits(database_url)
    batchers_before = await batcher_totals(client)
    events_before = await batcher_history_events(client)
    metrics_url = args.temporal_metrics
    actions_before = await scrape_actions(metrics_url) if metrics_url else None
    began = datetime.now(UTC)
    progress = Progress(total=args.workflows)
    ticker = asyncio.create_task(render(progress))
    try:
        report = await run_load(
            client,
            args.workflows,
            rate=args.rate,
            concurrency=args.concurrency,
            accounts=args.accounts,
            progress=progress,
        )
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
    actions: dict[str, int] = {}
    if metrics_url and actions_before is not None:
        # The server publishes its counters about once a second; a last flush is counted.
        await asyncio.sleep(ACTIONS_SETTLE_S)
        actions = action_delta(actions_before, await scrape_actions(metrics_url))
    batcher_events = await batcher_history_events(client) - events_before
    caller_events = await total_history_events(
        client, report.completed_ids, id_prefix=f"pay-{report.run_id}-"
    )
    batchers = (await batcher_totals(client)).minus(batchers_before)
    pulse = await shard_pulse(client, began, datetime.now(UTC))
    result = await build_report(report, database_url, before)
    done = max(report.completed, 1)
    result["history_events"] = {
        "callers": caller_events,
        "batchers": batcher_events,
        "caller_mean": round(caller_events / done, 2),
        "batcher_per_write": round(batcher_events / done, 3),
        "per_write": round((caller_events + batcher_events) / done, 2),
    }
    if metrics_url:
        result["actions"] = {"total": actions, "per_write": per_write(actions, done)}
    result["batchers"] = batchers
    result["shards"] = pulse.summary()
    result["settings"] = {
        k: v for k, v in vars(args).items() if k not in ("json", "data_dir") and v is not None
    }
    return result


def _embedded(args: Any) -> dict[str, Any]:
    # Only here: the main image ships loadtest/ but no devstack (it has no --embedded stack).
    from devstack.stack import Stack  # noqa: PLC0415

    with contextlib.ExitStack() as cleanup:
        data_dir = args.data_dir or Path(
            cleanup.enter_context(tempfile.TemporaryDirectory(prefix="loadtest-"))
        )
        stack = Stack(data_dir, database_url=os.environ.get("DATABASE_URL") or None)
        cleanup.callback(stack.stop)
        stack.start()
        env = worker_settings(args)
        workers = [stack.start_worker("batcher_service", **env.get("batcher_service", {}))]
        # Several main worker processes on the same queues: the fan-in a fleet of callers
        # brings to each batcher shard.
        for _ in range(args.main_workers):
            workers.append(stack.start_worker("main_service", **env.get("main_service", {})))
        ports = [int(w.env["METRICS_PORT"]) for w in workers]
        print(f"embedded stack: temporal {stack.temporal_address}", file=sys.stderr)
        assert stack.temporal_address is not None and stack.database_url is not None
        temporal = {"target_host": stack.temporal_address, "namespace": "default"}
        if stack.temporal is not None and args.temporal_metrics is None:
            args.temporal_metrics = dev_server_metrics_url(stack.temporal.process.argv)
        own = not os.environ.get("DATABASE_URL")  # the stack's own embedded PostgreSQL
        drive = _drive(args, temporal, stack.database_url, worker_ports=ports, own_database=own)
        return asyncio.run(drive)
    raise AssertionError("unreachable")


def main(argv: list[str]) -> int:
    stop_children_on_sigterm()
    args = parse(argv)
    if args.embedded:
        result = _embedded(args)
    else:
        database_url = os.environ.get("DATABASE_URL", "").strip()
        try:
            if not os.environ.get("TEMPORAL_ADDRESS") or not database_url:
                raise SettingsError("set TEMPORAL_ADDRESS and DATABASE_URL, or use --embedded")
            common = CommonSettings.from_env(os.environ, default_metrics_port=0)
        except SettingsError as err:
            print(f"loadtest: {err}", file=sys.stderr)
            return 2
        result = asyncio.run(_drive(args, common.temporal, database_url))
    print(render_report(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    if result["lost"] or result["duplicates"]:
        print("FAIL: lost or duplicate writes", file=sys.stderr)
        return 1
    return 3 if result["failed"] else 0


if __name__ == "__main__":
    exit_process(main(sys.argv[1:]))
