"""The final report of a load run: caller-side figures plus what PostgreSQL holds."""

from __future__ import annotations

from typing import Any

from devstack.verify import verify_writes
from loadtest.dbstats import batch_sizes, settled_xact_commits, size_distribution
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
    size = result["batch_size"]
    lines = [
        f"completed      {result['completed']}/{result['workflows']}  failed {result['failed']}"
        + (f"  {result['failures']}" if result["failures"] else ""),
        f"throughput     {result['writes_per_s']} writes/s over {result['wall_seconds']} s "
        f"({result['steady_writes_per_s']} steady: the middle 80 % of completions)",
        f"latency ms     p50 {result['p50_ms']}  p95 {result['p95_ms']}  "
        f"p99 {result['p99_ms']}  max {result['max_ms']}  (workflow start to ack)",
    ]
    if "write_p50_ms" in result:
        lines.append(
            f"write ms       p50 {result['write_p50_ms']}  p95 {result['write_p95_ms']}  "
            f"p99 {result['write_p99_ms']}  max {result['write_max_ms']}  (submit to ack)"
        )
    lines += [
        f"batches        {size['batches']}  size mean {size['mean']}  min {size['min']}  "
        f"p50 {size['p50']:g}  p95 {size['p95']:g}  max {size['max']}",
        f"batch sizes    {size['histogram']}",
        f"db commits     {result['db_transactions']}  ({result['db_tx_per_write']} per write; "
        "whole database, other clients included)",
        f"database check rows {result['rows']}  lost {result['lost']}  "
        f"duplicates {result['duplicates']}",
    ]
    if "history_events" in result:
        events = result["history_events"]
        lines.append(
            f"history        {events['per_write']} events per write: caller "
            f"{events['caller_mean']} (sampled), batcher runs {events['batcher_per_write']}"
        )
    if "batchers" in result:
        b = result["batchers"]
        lines.append(
            f"batchers       {b['shards']} shards, {b['runs']} runs, "
            f"{b['duplicates_dropped']} resends dropped as duplicates, "
            f"{b['overloaded_rejections']} overload refusals, {b['rows_withdrawn']} withdrawn, "
            f"{b['flushes_failed']} failed flushes"
        )
    return "\n".join(lines)
