"""``python -m bench``: every scenario on one embedded stack; results in bench/results/."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.results import summarize, write
from bench.scenarios import run_scenario, scenarios
from bench.two_tables import BENCH_SCHEMA, write_tables_file
from devstack.postgres import EmbeddedPostgres
from devstack.schema import MAIN_SCHEMA
from devstack.stack import Stack
from loadtest.dbstats import pause_autovacuum
from write_batcher_kit.lifecycle import exit_process, stop_children_on_sigterm

RESULTS = Path(__file__).parent / "results"


# What the targets compare: measured in interleaved rounds, the best round kept.
REPEATED = frozenset({"ceiling", "naive", "batched"})


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--workflows", type=int, default=500, help="per scenario")
    p.add_argument("--concurrency", type=int, default=200, help="in flight")
    p.add_argument("--warmup", type=int, default=20, help="unmeasured workflows per scenario")
    p.add_argument(
        "--shards",
        default="4",
        help="shard counts besides 1 to try (BATCHER_SHARDS), comma-separated",
    )
    p.add_argument(
        "--callers", default="1,8", help="caller worker processes per scenario, comma-separated"
    )
    p.add_argument(
        "--rounds", type=int, default=2, help="interleaved rounds of ceiling, naive, batched"
    )
    p.add_argument("--only", default=None, help="comma-separated scenario keys (debugging)")
    p.add_argument("--out", type=Path, default=RESULTS)
    return p


async def _run_all(
    tmp: Path, database_url: str, own_database: bool, args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    shard_counts = tuple(int(s) for s in args.shards.split(",") if s)
    caller_counts = tuple(int(s) for s in args.callers.split(",") if s)
    wanted = set(args.only.split(",")) if args.only else None
    if own_database:  # our own server, nobody else's
        await pause_autovacuum(database_url)
    tables_file = write_tables_file(tmp)
    chosen = [
        sc
        for sc in scenarios(shard_counts, tables_file, caller_counts)
        if not wanted or sc.key in wanted
    ]
    # The scenarios the targets compare run in interleaved rounds and keep their best round:
    # on a shared machine, noise only ever slows a run down, and interleaving spreads a busy
    # spell over all of them instead of one.
    order = [sc for _ in range(args.rounds) for sc in chosen if sc.key in REPEATED]
    order += [sc for sc in chosen if sc.key not in REPEATED]
    rounds: dict[str, list[dict[str, Any]]] = {}
    for index, sc in enumerate(order):
        print(f"== {sc.key}: {sc.title}", file=sys.stderr, flush=True)
        # A fresh dev server (same settings) per scenario: on a shared one, each scenario
        # would pay for the history the earlier ones left in its SQLite file, and the order of
        # the scenarios would decide part of the result.
        stack = Stack(
            tmp / f"{index}-{sc.key}",
            database_url=database_url,
            schemas=(MAIN_SCHEMA, BENCH_SCHEMA),
        ).start()
        try:
            run = await run_scenario(stack, sc, args.workflows, args.concurrency, args.warmup)
        finally:
            stack.stop()
        rounds.setdefault(sc.key, []).append(run)
        print(
            f"   {run['steady_per_s']}/s steady, {run['per_s']}/s whole run",
            file=sys.stderr,
            flush=True,
        )
    runs: dict[str, dict[str, Any]] = {}
    for sc in chosen:
        if sc.key not in rounds:
            continue
        best = max(rounds[sc.key], key=lambda r: r["steady_per_s"])
        runs[sc.key] = best | {"rounds_per_s": [r["steady_per_s"] for r in rounds[sc.key]]}
    return runs


def main(argv: list[str]) -> int:
    stop_children_on_sigterm()
    args = _parser().parse_args(argv)
    began = time.monotonic()
    meta: dict[str, Any] = {
        "workflows": args.workflows,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "cpus": os.cpu_count(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        url = os.environ.get("DATABASE_URL") or None
        postgres = None if url else EmbeddedPostgres(Path(tmp) / "postgres")
        try:
            if postgres is not None:
                url = postgres.start()
            assert url is not None
            runs = asyncio.run(_run_all(Path(tmp), url, postgres is not None, args))
        finally:
            if postgres is not None:
                postgres.stop()
    meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    meta["bench_seconds"] = round(time.monotonic() - began, 1)
    summary = summarize(runs, meta)
    write(summary, args.out)
    print((args.out / "latest.md").read_text())
    return 1 if summary["lost_or_duplicate"] else 0


if __name__ == "__main__":
    exit_process(main(sys.argv[1:]))
