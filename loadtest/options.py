"""Command-line options of ``python -m loadtest`` and the worker settings they imply."""

from __future__ import annotations

import argparse
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m loadtest",
        description="Start payment workflows at a rate or a concurrency; report latency, "
        "batches, database transactions, and check one row per acked write.",
    )
    p.add_argument("--workflows", type=int, default=None, help="how many (default 200)")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=float, default=None, help="starts per second")
    pace.add_argument("--concurrency", type=int, default=None, help="in flight at once")
    p.add_argument("--duration", type=float, default=None, help="seconds at --rate (sustained)")
    p.add_argument("--accounts", type=int, default=50, help="distinct partition keys")
    p.add_argument("--embedded", action="store_true", help="start a devstack.Stack and workers")
    p.add_argument("--data-dir", type=Path, default=None, help="embedded state (default: tmp)")
    worker = p.add_argument_group("worker settings (only with --embedded)")
    worker.add_argument("--shards", type=int, default=None, help="BATCHER_SHARDS")
    worker.add_argument("--batch-size", type=int, default=None, help="BATCH_MAX_SIZE")
    worker.add_argument("--max-wait", type=float, default=None, help="BATCH_MAX_WAIT_SECONDS")
    worker.add_argument("--mode", choices=("fixed", "adaptive"), default=None, help="BATCH_MODE")
    worker.add_argument(
        "--min-interval", type=float, default=None, help="BATCH_MIN_INTERVAL_SECONDS"
    )
    worker.add_argument(
        "--max-interval", type=float, default=None, help="BATCH_MAX_INTERVAL_SECONDS"
    )
    worker.add_argument("--full-load-rate", type=float, default=None, help="BATCH_FULL_LOAD_RATE")
    worker.add_argument("--linger", type=float, default=None, help="SUBMIT_LINGER_SECONDS")
    worker.add_argument(
        "--main-workers",
        type=int,
        default=None,
        help="main worker processes, all on the same task queues (default 1): fan-in",
    )
    p.add_argument(
        "--temporal-metrics",
        default=None,
        help="the Temporal server's Prometheus address (http://host:port/metrics), for the "
        "billable actions per write (its `action` counter); --embedded finds its own",
    )
    p.add_argument("--json", type=Path, default=None, help="write the report here too")
    return p


def parse(argv: list[str]) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    if args.duration is not None:
        if args.rate is None:
            p.error("--duration needs --rate")
        if args.workflows is not None:
            p.error("--duration and --workflows are exclusive (duration x rate = workflows)")
        args.workflows = max(1, int(args.duration * args.rate))
    if args.workflows is None:
        args.workflows = 200
    if args.workflows < 1:
        p.error("--workflows must be at least 1")
    if args.rate is not None and args.rate <= 0:
        p.error("--rate must be positive")
    if args.rate is None and args.concurrency is None:
        args.concurrency = min(args.workflows, 200)
    if args.main_workers is not None and args.main_workers < 1:
        p.error("--main-workers must be at least 1")
    if not args.embedded and (worker_settings(args) or args.main_workers is not None):
        p.error(
            "worker settings (--shards, --batch-size, --max-wait, --mode, --min-interval, "
            "--max-interval, --full-load-rate, --linger, --main-workers) need --embedded; "
            "an existing deployment's workers own those settings"
        )
    if args.main_workers is None:
        args.main_workers = 1
    return args


def worker_settings(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    """Environment for the embedded workers, by service; empty when no flag was given."""
    main: dict[str, str] = {}
    batcher: dict[str, str] = {}
    # Routing to shards and coalescing into signals are the batcher worker's (its intake).
    if args.shards is not None:
        batcher["BATCHER_SHARDS"] = str(args.shards)
    if args.linger is not None:
        batcher["SUBMIT_LINGER_SECONDS"] = str(args.linger)
    for flag, var in (
        ("batch_size", "BATCH_MAX_SIZE"),
        ("max_wait", "BATCH_MAX_WAIT_SECONDS"),
        ("mode", "BATCH_MODE"),
        ("min_interval", "BATCH_MIN_INTERVAL_SECONDS"),
        ("max_interval", "BATCH_MAX_INTERVAL_SECONDS"),
        ("full_load_rate", "BATCH_FULL_LOAD_RATE"),
    ):
        value = getattr(args, flag)
        if value is not None:
            batcher[var] = str(value)
    if not main and not batcher:
        return {}
    return {"main_service": main, "batcher_service": batcher}
