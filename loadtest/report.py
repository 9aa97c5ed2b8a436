"""The final report of a load run: caller-side figures plus what PostgreSQL holds."""

from __future__ import annotations

import io
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from loadtest.dbstats import batch_sizes, settled_xact_commits, size_distribution
from loadtest.verify import verify_writes
from main_service.starter import StarterReport


async def build_report(
    report: StarterReport, database_url: str, xact_before: int
) -> dict[str, Any]:
    """Throughput, latency, failures, batches, transactions and the one-row-per-ack check."""
    xact_after = await settled_xact_commits(database_url)
    check = await verify_writes(database_url, report.completed_ids)
    sizes = await batch_sizes(database_url, report.completed_ids)
    db_tx = xact_after - xact_before
    return {
        **report.summary(),
        "batch_size": size_distribution(sizes),
        "db_transactions": db_tx,
        "db_tx_per_write": round(db_tx / report.completed, 3) if report.completed else None,
        "rows": check.rows,
        "lost": check.lost,
        "duplicates": check.duplicates,
    }


def render(result: dict[str, Any]) -> str:
    """The report as a two-column table drawn by rich (plain text: it goes to logs too)."""
    size = result["batch_size"]
    table = Table(title="load test", title_justify="left", show_header=False, box=box.SIMPLE)
    table.add_column("figure", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    failures = f"  {result['failures']}" if result["failures"] else ""
    table.add_row(
        "completed",
        f"{result['completed']}/{result['workflows']}  failed {result['failed']}" + failures,
    )
    table.add_row(
        "throughput",
        f"{result['writes_per_s']} writes/s over {result['wall_seconds']} s "
        f"({result['steady_writes_per_s']} steady: the middle 80 % of completions)",
    )
    table.add_row("latency ms", _quantiles(result, "") + "  (workflow start to ack)")
    if "write_p50_ms" in result:
        table.add_row("write ms", _quantiles(result, "write_") + "  (submit to ack)")
    table.add_row(
        "batches",
        f"{size['batches']}  size mean {size['mean']}  min {size['min']}  "
        f"p50 {size['p50']:g}  p95 {size['p95']:g}  max {size['max']}",
    )
    table.add_row("batch sizes", str(size["histogram"]))
    table.add_row(
        "db commits",
        f"{result['db_transactions']}  ({result['db_tx_per_write']} per write; "
        "whole database, other clients included"
        + ("; autovacuum paused" if result.get("autovacuum_paused") else "")
        + ")",
    )
    table.add_row(
        "database check",
        f"rows {result['rows']}  lost {result['lost']}  duplicates {result['duplicates']}",
    )
    if "history_events" in result:
        events = result["history_events"]
        table.add_row(
            "history",
            f"{events['per_write']} events per write: callers {events['caller_mean']} "
            f"(every one), batcher runs {events['batcher_per_write']} (continue-as-new runs "
            "included)",
        )
    if "actions" in result:
        per = result["actions"]["per_write"]
        by_op = "  ".join(f"{op} {v:g}" for op, v in per.items() if op != "total")
        table.add_row(
            "actions",
            f"{per.get('total', 0):g} per write (the server's action counter, whole "
            f"workflows; a payment without its write costs about 2): {by_op}",
        )
    if "shards" in result:
        pulse = result["shards"]
        table.add_row(
            "shard pulse",
            f"{pulse['signals_per_second']} signals/s into the shards ({pulse['signals']}); "
            f"workflow tasks {pulse['workflow_tasks']}, scheduled to completed p50 "
            f"{pulse['task_p50_ms']} ms p99 {pulse['task_p99_ms']} ms "
            f"max {pulse['task_max_ms']} ms",
        )
    if "batchers" in result:
        b = result["batchers"]
        table.add_row(
            "batchers",
            f"{b['shards']} shards, {b['runs']} runs, "
            f"{b['duplicates_dropped']} resends dropped as duplicates, "
            f"{b['overloaded_rejections']} overload refusals, {b['rows_withdrawn']} withdrawn, "
            f"{b['flushes_failed']} failed flushes",
        )
    out = io.StringIO()
    Console(file=out, width=160, color_system=None, force_terminal=False).print(table)
    # rich pads every line to the console width: keep the text, not the padding.
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()).strip("\n")


def _quantiles(result: dict[str, Any], prefix: str) -> str:
    return "  ".join(f"{q} {result[f'{prefix}{q}_ms']}" for q in ("p50", "p95", "p99", "max"))
