"""The backfill command: start a job, watch its progress bar, cancel it."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from batcher_service.backfill.payloads import (
    BackfillInput,
    BackfillProgress,
    BackfillResult,
    BackfillStatus,
)
from batcher_service.backfill.sources import source_name_problem
from batcher_service.names import BACKFILL_ID_PREFIX, BACKFILL_PROGRESS_QUERY, BACKFILL_WORKFLOW
from write_batcher.contract import BATCHER_TASK_QUEUE
from write_batcher_kit.client import connect
from write_batcher_kit.settings import CommonSettings, SettingsError

_BAR = 30


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m batcher_service backfill", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start a backfill; prints its workflow id")
    start.add_argument(
        "--source",
        required=True,
        help="name of a source configured on the batcher worker (BACKFILL_SOURCE_<NAME> or "
        "a file in BACKFILL_SOURCES_DIR); never a URL",
    )
    what = start.add_mutually_exclusive_group(required=True)
    what.add_argument("--source-table")
    what.add_argument("--source-query", help="SELECT ... (the key must be one of its columns)")
    start.add_argument("--key", required=True, help="unique, ordered key column")
    start.add_argument(
        "--target-table", required=True, help="table in the batcher worker's DATABASE_URL"
    )
    start.add_argument("--batch-size", type=int, default=5_000)
    start.add_argument("--rate", type=float, default=None, help="rows/s limit for the whole job")
    start.add_argument("--partitions", type=int, default=1)
    start.add_argument("--heartbeat-timeout", type=float, default=30.0, help="seconds")
    start.add_argument("--id", default=None, help="workflow id (default: backfill-<random>)")
    start.add_argument("--task-queue", default=BATCHER_TASK_QUEUE)
    for name in ("watch", "cancel"):
        cmd = sub.add_parser(name, help=f"{name} a backfill by workflow id")
        cmd.add_argument("workflow_id")
    return parser


def _refuse_source(name: str) -> str | None:
    """The refusal the workflow would give, before a URL reaches workflow history."""
    problem = source_name_problem(name)
    return None if problem is None else f"backfill: {problem.type}: {problem.message}"


async def _start(client: Client, args: argparse.Namespace) -> int:
    job = BackfillInput(
        source=args.source,
        key=args.key,
        target_table=args.target_table,
        source_table=args.source_table,
        source_query=args.source_query,
        batch_size=args.batch_size,
        rate_limit=args.rate,
        partitions=args.partitions,
        heartbeat_timeout_seconds=args.heartbeat_timeout,
    )
    workflow_id = args.id or f"{BACKFILL_ID_PREFIX}-{uuid.uuid4().hex[:12]}"
    await client.start_workflow(BACKFILL_WORKFLOW, job, id=workflow_id, task_queue=args.task_queue)
    print(f"started {workflow_id} from source {args.source!r}", file=sys.stderr)
    print(workflow_id)
    return 0


async def read_progress(client: Client, handle: WorkflowHandle[object, object]) -> tuple[int, int]:
    """Rows done and the estimated total: running partitions' heartbeats plus finished ones."""
    desc = await handle.describe()
    done, total = 0, 0
    for pending in desc.raw_description.pending_activities:
        if pending.heartbeat_details.payloads:
            details = await client.data_converter.decode(
                pending.heartbeat_details.payloads, [BackfillProgress]
            )
            progress: BackfillProgress = details[0]
            done += progress.rows_done
    if desc.status == WorkflowExecutionStatus.RUNNING:
        status: BackfillStatus = await handle.query(
            BACKFILL_PROGRESS_QUERY, result_type=BackfillStatus
        )
        done += sum(p.rows_read for p in status.completed)
        total = status.rows_total_estimate
    return done, max(total, done)


def _bar(done: int, total: int, rate: float) -> str:
    share = done / total if total else 0.0
    filled = int(share * _BAR)
    eta = f"{(total - done) / rate:,.0f}s" if rate > 0 and total > done else "-"
    bar = "#" * filled + "." * (_BAR - filled)
    return f"[{bar}] {share:6.1%} {done:,}/{total:,} rows {rate:,.0f} rows/s ETA {eta}"


async def _watch(client: Client, workflow_id: str) -> int:
    handle = client.get_workflow_handle(workflow_id)
    last_done, last_at, rate = 0, time.monotonic(), 0.0
    while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        done, total = await read_progress(client, handle)
        now = time.monotonic()
        if done > last_done:
            # Smoothed: heartbeats arrive throttled, so single intervals are jumpy.
            sample = (done - last_done) / (now - last_at)
            rate = sample if rate == 0 else 0.7 * rate + 0.3 * sample
            last_done, last_at = done, now
        print("\r" + _bar(done, total, rate), end="", flush=True)
        await asyncio.sleep(1.0)
    print()
    status = (await handle.describe()).status
    if status != WorkflowExecutionStatus.COMPLETED:
        print(f"{workflow_id}: {status.name if status else 'unknown'}", file=sys.stderr)
        return 1
    typed = client.get_workflow_handle(workflow_id, result_type=BackfillResult)
    result = await typed.result()
    # The bar's last state, also when the job ended before the first poll.
    print(_bar(result.rows_read, result.rows_read, rate))
    print(
        f"done: {result.rows_read:,} rows read, {result.rows_inserted:,} inserted, "
        f"{result.batches:,} batches, {len(result.partitions)} partition(s)"
    )
    return 0


async def _run(args: argparse.Namespace) -> int:
    settings = CommonSettings.from_env(os.environ, default_metrics_port=0)
    client = await connect(settings.temporal)
    if args.command == "start":
        return await _start(client, args)
    if args.command == "watch":
        return await _watch(client, args.workflow_id)
    await client.get_workflow_handle(args.workflow_id).cancel()
    print(f"cancel requested for {args.workflow_id}; the batch in flight commits, then it stops")
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    refusal = _refuse_source(args.source) if args.command == "start" else None
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(args))
    except SettingsError as err:
        print(f"backfill: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
