"""The README's first command: run N payments through the embedded stack and report."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from devstack.stack import Stack
from loadtest.verify import verify_writes
from main_service.starter import StarterReport, run_payments
from write_batcher_kit.client import connect
from write_batcher_kit.lifecycle import stop_children_on_sigterm


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devstack demo", description=__doc__)
    parser.add_argument("--workflows", type=int, default=int(os.environ.get("WORKFLOWS", "200")))
    parser.add_argument("--concurrency", type=int, default=None, help="in flight (default: all)")
    parser.add_argument("--accounts", type=int, default=50, help="distinct partition keys")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("DATA_DIR", ".data")))
    parser.add_argument(
        "--ui",
        action="store_true",
        help="start the dev server's web UI, print its address, keep the stack up until Ctrl-C",
    )
    return parser


async def _run(stack: Stack, args: argparse.Namespace) -> dict[str, object]:
    assert stack.temporal_address is not None and stack.database_url is not None
    client = await connect({"target_host": stack.temporal_address, "namespace": "default"})
    report: StarterReport = await run_payments(
        client, args.workflows, concurrency=args.concurrency, accounts=args.accounts
    )
    check = await verify_writes(stack.database_url, report.completed_ids)
    return {
        **report.summary(),
        "lost": check.lost,
        "duplicates": check.duplicates,
        "batches": check.batches,
        "avg_batch_size": check.avg_batch_size,
        "rows": check.rows,
    }


def run_demo(argv: list[str]) -> int:
    stop_children_on_sigterm()
    args = _parser().parse_args(argv)
    began = time.monotonic()
    stack = Stack(
        args.data_dir.resolve(), database_url=os.environ.get("DATABASE_URL") or None, ui=args.ui
    )
    try:
        stack.start()
        print(
            f"temporal dev server: {stack.temporal_address}  (state: {args.data_dir}/temporal.db)"
        )
        if stack.ui_address is not None:
            print(f"temporal ui: {stack.ui_address}", flush=True)
        print(f"postgresql: {stack.database_url}")
        stack.start_worker("batcher_service")
        stack.start_worker("main_service")
        print(f"workers started; running {args.workflows} payment workflows ...", flush=True)
        result = asyncio.run(_run(stack, args))
        _report(result, began)
        if stack.ui_address is not None:
            _linger(stack.ui_address)
    finally:
        stack.stop()
    ok = result["lost"] == 0 and result["duplicates"] == 0 and result["failed"] == 0
    return 0 if ok else 1


def _linger(ui_address: str) -> None:
    """Keep the stack up so the run's workflows can be browsed; Ctrl-C or SIGTERM ends it."""
    print(f"the stack stays up for the UI at {ui_address}; Ctrl-C stops it", flush=True)
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        signal.pause()


def _report(result: dict[str, object], began: float) -> None:
    print(f"completed        {result['completed']}")
    print(f"failed           {result['failed']} {result['failures'] or ''}")
    print(f"wall seconds     {result['wall_seconds']}  (whole demo {time.monotonic() - began:.1f})")
    print(f"writes per s     {result['writes_per_s']}")
    print(
        f"latency ms       p50 {result['p50_ms']}  p95 {result['p95_ms']}  p99 {result['p99_ms']}"
    )
    print(f"batches          {result['batches']}  (avg size {result['avg_batch_size']})")
    print(
        f"database check   rows {result['rows']}  lost {result['lost']}  "
        f"duplicates {result['duplicates']}"
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(run_demo(sys.argv[1:]))
