"""The bench's summary figures, target checks, and its JSON and Markdown files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def summarize(runs: dict[str, dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    # The best shard count may be one: the defaults' run is a candidate too.
    candidates = {k: v for k, v in runs.items() if k.startswith("sharded_") or k == "batched"}
    best_key = max(candidates, key=lambda k: candidates[k]["steady_per_s"])
    best = runs[best_key]
    naive, batched = runs["naive"], runs["batched"]
    ceiling = runs["ceiling"]["steady_per_s"]
    tx_ratio = naive["db_tx"] / batched["db_tx"] if batched["db_tx"] else None
    two = runs.get("two_tables")
    # Writes/s are steady-state rates (the middle 80 % of completions, see steady_rate);
    # the whole-run rates, which include filling and draining the 200 in flight, follow.
    return {
        "empty_wps": runs["empty"]["steady_per_s"],
        "ceiling_wps": ceiling,
        "naive_wps": naive["steady_per_s"],
        "batched_wps": batched["steady_per_s"],
        "sharded_wps": best["steady_per_s"],
        "sharded_best_shards": best.get("shards"),
        "whole_run_wps": {key: run["per_s"] for key, run in runs.items()},
        "naive_db_tx": naive["db_tx"],
        "batched_db_tx": batched["db_tx"],
        "sharded_db_tx": best["db_tx"],
        "tx_reduction_naive_over_batched": round(tx_ratio, 1) if tx_ratio else None,
        "targets": {
            "batched_wps_ge_naive_wps": batched["steady_per_s"] >= naive["steady_per_s"],
            "batched_50x_fewer_db_tx": tx_ratio is not None and tx_ratio >= 50,
            "sharded_wps_ge_0_8_ceiling": best["steady_per_s"] >= 0.8 * ceiling,
        },
        "two_tables": None
        if two is None
        else {
            "wps": two["steady_per_s"],
            "rows_per_s": two["rows_per_s"],
            "db_tx": two["db_tx"],
            "tx_per_workflow": two["db_tx_per_write"],
            "wps_over_batched": round(two["steady_per_s"] / batched["steady_per_s"], 2)
            if batched["steady_per_s"]
            else None,
            "wps_over_naive": round(two["steady_per_s"] / naive["steady_per_s"], 2)
            if naive["steady_per_s"]
            else None,
            "tx_reduction_vs_naive_rows": round(2 * naive["db_tx"] / two["db_tx"], 1)
            if two["db_tx"]
            else None,
        },
        "lost_or_duplicate": sum(r.get("lost", 0) + r.get("duplicates", 0) for r in runs.values()),
        "meta": meta,
        "scenarios": runs,
    }


def markdown(summary: dict[str, Any]) -> str:
    meta = summary["meta"]
    lines = [
        "# Write batching bench",
        "",
        f"{meta['workflows']} workflows per scenario, {meta['concurrency']} in flight, "
        f"{meta['warmup']} warm-up workflows each; a fresh dev server (SQLite WAL) "
        "per scenario, one pgserver PostgreSQL (autovacuum paused, VACUUM between scenarios), "
        f"{meta['cpus']} CPUs, load average at start "
        f"{meta['loadavg_start']}, at end {meta.get('loadavg_end')}. Shared machine: figures "
        "are noisy. Latency is start to result (the ack ends a payment).",
        "",
        "Writes/s (/s) is the steady-state rate: completions per second between the first and "
        "the last 10 % of them, so filling and draining the fixed number in flight (one "
        "latency each) does not count; /s whole run is completions over the whole wall time.",
        "",
        f"Ceiling, naive and batched ran in {meta.get('rounds', 1)} interleaved rounds; each "
        "row is its best round (steady). Steady writes/s per round: "
        + "; ".join(
            f"{run['title']} {run['rounds_per_s']}"
            for run in summary["scenarios"].values()
            if len(run.get("rounds_per_s", [])) > 1
        )
        + ".",
        "",
        "| scenario | /s | /s whole run | p50 ms | p99 ms | PG tx | tx/write | events/wf "
        "| CPU ms/wf | peak RSS MiB | batches (mean size) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for run in summary["scenarios"].values():
        size = run.get("batch_size")
        batches = f"{size['batches']} ({size['mean']})" if size else "-"
        rss = ", ".join(f"{k} {v}" for k, v in run["peak_rss_mib"].items())
        lines.append(
            f"| {run['title']} | {run['steady_per_s']} | {run['per_s']} "
            f"| {run['p50_ms']} | {run['p99_ms']} "
            f"| {run['db_tx']} | {run['db_tx_per_write']} | {run['history_events_per_workflow']} "
            f"| {run['cpu_ms_per_workflow']} | {rss} | {batches} |"
        )
    targets = summary["targets"]
    lines += [
        "",
        f"- batched ≥ naive writes/s: **{targets['batched_wps_ge_naive_wps']}** "
        f"({summary['batched_wps']} vs {summary['naive_wps']})",
        f"- ≥ 50x fewer PostgreSQL transactions: **{targets['batched_50x_fewer_db_tx']}** "
        f"({summary['naive_db_tx']} vs {summary['batched_db_tx']}, "
        f"{summary['tx_reduction_naive_over_batched']}x)",
        f"- sharded ≥ 0.8 x ceiling: **{targets['sharded_wps_ge_0_8_ceiling']}** "
        f"({summary['sharded_wps']} with {summary['sharded_best_shards']} shards vs "
        f"ceiling {summary['ceiling_wps']}; empty workflows {summary['empty_wps']}/s)",
    ]
    two = summary.get("two_tables")
    if two:
        lines.append(
            f"- two rows to two tables per workflow: {two['wps']} workflows/s "
            f"({two['rows_per_s']} rows/s; {two['wps_over_batched']}x the one-row batched "
            f"rate, {two['wps_over_naive']}x naive), {two['db_tx']} PG tx "
            f"({two['tx_per_workflow']} per workflow; {two['tx_reduction_vs_naive_rows']}x "
            "fewer than naive would use for the same rows, one INSERT each)"
        )
    lines += [
        "",
        "PG tx: xact_commit delta of the database from after the warm-up (pools connected) "
        "to after the workers exit: every transaction the measured writes used, and nothing "
        "else. CPU: the workers' and the dev server's, summed, per "
        "workflow. events/wf: callers' history events plus the batcher runs' growth, per workflow "
        "(one write each; two in the two-table scenario).",
    ]
    return "\n".join(lines) + "\n"


def write(summary: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "latest.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out_dir / "latest.md").write_text(markdown(summary))
