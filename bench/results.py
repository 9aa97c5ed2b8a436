"""The bench's summary figures, target checks, and its JSON and Markdown files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Targets of issue 21 for the batcher, per caller count: actions and history events per write
# beyond the same workflow without a write, PostgreSQL transactions against naive's.
MAX_ACTIONS_PER_WRITE = 1.2
MIN_TX_REDUCTION = 50


def cost_per_write(run: dict[str, Any], base: dict[str, Any] | None) -> dict[str, Any]:
    """Actions (in total and by operation) and history events per written row beyond the
    baseline's per workflow (the same workflow without its write), and PostgreSQL
    transactions per row. Without a baseline: the whole workflow's, per row."""
    rows = max(run.get("writes_per_workflow", 1), 1)
    mine = run.get("actions_per_workflow") or {}
    theirs = (base or {}).get("actions_per_workflow") or {}
    ops = {
        op: round((mine.get(op, 0.0) - theirs.get(op, 0.0)) / rows, 3)
        for op in sorted(set(mine) | set(theirs))
        if op != "total"
    }
    events = run.get("history_events_per_workflow")
    base_events = (base or {}).get("history_events_per_workflow") or 0.0
    return {
        "beyond": base["title"] if base else None,
        "actions": round((mine.get("total", 0.0) - theirs.get("total", 0.0)) / rows, 3)
        if mine
        else None,
        "actions_by_operation": {op: v for op, v in ops.items() if abs(v) >= 0.001},
        "history_events": round((events - base_events) / rows, 2) if events is not None else None,
        "db_tx": run.get("db_tx_per_write"),
    }


def _targets(runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each batched scenario against the targets and against naive at the same caller count."""
    out: dict[str, dict[str, Any]] = {}
    for key, run in runs.items():
        if not run.get("shards") or key == "two_tables":
            continue
        naive = runs.get("naive" + ("" if run["callers"] == 1 else f"_x{run['callers']}"))
        cost, naive_cost = run["cost"], (naive or {}).get("cost") or {}
        tx, naive_tx = cost["db_tx"], naive_cost.get("db_tx")
        reduction = round(naive_tx / tx, 1) if tx and naive_tx else None
        out[key] = {
            "actions_per_write": cost["actions"],
            "actions_le_1_2": cost["actions"] is not None
            and cost["actions"] <= MAX_ACTIONS_PER_WRITE,
            "history_events_per_write": cost["history_events"],
            "naive_history_events_per_write": naive_cost.get("history_events"),
            "history_events_le_naive": naive_cost.get("history_events") is not None
            and cost["history_events"] is not None
            and cost["history_events"] <= naive_cost["history_events"],
            "tx_reduction_vs_naive": reduction,
            "tx_50x_fewer": reduction is not None and reduction >= MIN_TX_REDUCTION,
        }
    return out


def summarize(runs: dict[str, dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    for run in runs.values():
        run["cost"] = cost_per_write(run, runs.get(run.get("baseline") or ""))

    def wps(key: str) -> float | None:
        return runs[key]["steady_per_s"] if key in runs else None

    # The best shard count may be one: the defaults' run is a candidate too.
    candidates = {
        k: v
        for k, v in runs.items()
        if v.get("callers", 1) == 1 and (k.startswith("sharded_") or k == "batched")
    }
    best_key = max(candidates, key=lambda k: candidates[k]["steady_per_s"], default=None)
    best = runs[best_key] if best_key else {}
    naive, batched = runs.get("naive", {}), runs.get("batched", {})
    ceiling = wps("ceiling")
    tx_ratio = (
        naive["db_tx"] / batched["db_tx"] if naive.get("db_tx") and batched.get("db_tx") else None
    )
    two = runs.get("two_tables")
    # Writes/s are steady-state rates (the middle 80 % of completions, see steady_rate);
    # the whole-run rates, which include filling and draining the 200 in flight, follow.
    return {
        "empty_wps": wps("empty"),
        "ceiling_wps": ceiling,
        "naive_wps": wps("naive"),
        "batched_wps": wps("batched"),
        "group_commit_wps": wps("group_commit"),
        "sharded_wps": best.get("steady_per_s"),
        "sharded_best_shards": best.get("shards"),
        "whole_run_wps": {key: run["per_s"] for key, run in runs.items()},
        "naive_db_tx": naive.get("db_tx"),
        "batched_db_tx": batched.get("db_tx"),
        "sharded_db_tx": best.get("db_tx"),
        "tx_reduction_naive_over_batched": round(tx_ratio, 1) if tx_ratio else None,
        "targets": {
            "batched_wps_ge_naive_wps": bool(naive and batched)
            and batched["steady_per_s"] >= naive["steady_per_s"],
            "batched_50x_fewer_db_tx": tx_ratio is not None and tx_ratio >= MIN_TX_REDUCTION,
            "sharded_wps_ge_0_8_ceiling": bool(best and ceiling)
            and best["steady_per_s"] >= 0.8 * (ceiling or 0.0),
        },
        "cost_targets": _targets(runs),
        "two_tables": None
        if two is None
        else {
            "wps": two["steady_per_s"],
            "rows_per_s": two["rows_per_s"],
            "db_tx": two["db_tx"],
            "tx_per_workflow": round(two["db_tx"] / two["completed"], 3)
            if two["completed"]
            else None,
        },
        "lost_or_duplicate": sum(r.get("lost", 0) + r.get("duplicates", 0) for r in runs.values()),
        "meta": meta,
        "scenarios": runs,
    }


def _ops(cost: dict[str, Any]) -> str:
    short = {
        "RespondWorkflowTaskCompleted/command_ScheduleActivityTask": "activity",
        "RespondWorkflowTaskCompleted/command_StartTimer": "timer",
        "RespondWorkflowTaskCompleted/command_ContinueAsNewWorkflowExecution": "continue-as-new",
        "RespondWorkflowTaskCompleted/command_RecordMarker": "marker",
        "RecordActivityTaskHeartbeat": "heartbeat",
        "SignalWithStartWorkflowExecution": "signal-with-start",
        "SignalWorkflowExecution": "signal",
        "StartWorkflowExecution": "start",
        "UpdateWorkflowExecution": "update",
        "QueryWorkflow": "query",
    }
    parts = [f"{short.get(op, op)} {v:g}" for op, v in cost["actions_by_operation"].items()]
    return ", ".join(parts) or "-"


def _na(value: Any) -> str:
    return "-" if value is None else str(value)


def markdown(summary: dict[str, Any]) -> str:
    meta = summary["meta"]
    lines = [
        "# Write batching bench",
        "",
        f"{meta['workflows']} workflows per scenario, {meta['concurrency']} in flight, "
        f"{meta['warmup']} warm-up workflows each; a fresh dev server (SQLite WAL) "
        "per scenario, one PostgreSQL (autovacuum paused when it is the bench's own, VACUUM "
        f"between scenarios), {meta['cpus']} CPUs, load average at start "
        f"{meta['loadavg_start']}, at end {meta.get('loadavg_end')}. Shared machine: rates "
        "are noisy; the costs per write (actions, events, transactions) are not. Latency is "
        "start to result (the ack ends a payment).",
        "",
        "Writes/s (/s) is the steady-state rate: completions per second between the first and "
        "the last 10 % of them, so filling and draining the fixed number in flight (one "
        "latency each) does not count; /s whole run is completions over the whole wall time.",
        "",
    ]
    repeated = [
        f"{run['title']} {run['rounds_per_s']}"
        for run in summary["scenarios"].values()
        if len(run.get("rounds_per_s", [])) > 1
    ]
    if repeated:
        lines += [
            f"Ceiling, naive and batched (1 caller) ran in {meta.get('rounds', 1)} interleaved "
            "rounds; each row is its best round (steady). Steady writes/s per round: "
            + "; ".join(repeated)
            + ".",
            "",
        ]
    lines += [
        "## Cost per write",
        "",
        "Beyond the same workflow without its write (`ceiling`, on as many caller processes): "
        "billable actions from the dev server's own `action` counter (scraped before and "
        "after the measured run), history events of every caller and every batcher run "
        "(continue-as-new runs included), PostgreSQL commits per row.",
        "",
        "| scenario | callers | /s | p50 ms | p99 ms | actions/write | by operation "
        "| events/write | PG tx/write | batches (mean size) |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for run in summary["scenarios"].values():
        cost = run["cost"]
        size = run.get("batch_size")
        batches = f"{size['batches']} ({size['mean']})" if size else "-"
        lines.append(
            f"| {run['title']} | {run.get('callers', 1)} | {run['steady_per_s']} "
            f"| {run['p50_ms']} | {run['p99_ms']} | {_na(cost['actions'])} | {_ops(cost)} "
            f"| {_na(cost['history_events'])} | {_na(cost['db_tx'])} | {batches} |"
        )
    lines += [
        "",
        "Rows without a baseline (empty, ceiling) give the whole workflow's cost per "
        "workflow. The two-table row is per row (two per workflow).",
        "",
        "## Targets (issue 21)",
        "",
        "| scenario | actions/write ≤ 1.2 | events/write ≤ naive's "
        "| ≥ 50x fewer PG tx than naive |",
        "|---|---|---|---|",
    ]
    for key, t in summary["cost_targets"].items():
        lines.append(
            f"| {key} | **{t['actions_le_1_2']}** ({_na(t['actions_per_write'])}) "
            f"| **{t['history_events_le_naive']}** ({_na(t['history_events_per_write'])} vs "
            f"{_na(t['naive_history_events_per_write'])}) "
            f"| **{t['tx_50x_fewer']}** ({_na(t['tx_reduction_vs_naive'])}x) |"
        )
    lines += [
        "",
        "## Rates and resources",
        "",
        "| scenario | /s | /s whole run | p50 ms | p99 ms | PG tx | events/wf | actions/wf "
        "| CPU ms/wf | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in summary["scenarios"].values():
        rss = ", ".join(f"{k} {v}" for k, v in run["peak_rss_mib"].items())
        actions = (run.get("actions_per_workflow") or {}).get("total")
        lines.append(
            f"| {run['title']} | {run['steady_per_s']} | {run['per_s']} "
            f"| {run['p50_ms']} | {run['p99_ms']} | {run['db_tx']} "
            f"| {run['history_events_per_workflow']} | {_na(actions)} "
            f"| {run['cpu_ms_per_workflow']} | {rss} |"
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
            f"({two['rows_per_s']} rows/s), {two['db_tx']} PG tx "
            f"({two['tx_per_workflow']} per workflow)"
        )
    lines += [
        "",
        "PG tx: xact_commit delta of the database from after the warm-up (pools connected) "
        "to after the workers exit: every transaction the measured writes used, and nothing "
        "else. CPU: the workers' and the dev server's, summed, per workflow. events/wf: "
        "every caller's history plus the batcher runs' growth, per workflow.",
    ]
    return "\n".join(lines) + "\n"


def write(summary: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "latest.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out_dir / "latest.md").write_text(markdown(summary))
