"""``python -m loadtest --embedded`` end to end: real dev server, PostgreSQL, worker processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.two_tables import EVENTS_TABLE, write_tables_file
from devstack.schema import MAIN_TABLES_FILE
from loadtest.dbstats import size_distribution
from loadtest.options import parse, worker_settings
from main_service.names import LEDGER_TABLE
from main_service.starter import steady_rate
from tests.support.processes import popen, stop_postmasters
from write_batcher import load_table_specs
from write_batcher.tables import WriteMode


def test_embedded_loadtest_acks_every_write_exactly_once(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    if os.environ.get("TEST_DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
    report_path = tmp_path / "report.json"
    argv = [
        sys.executable,
        "-m",
        "loadtest",
        "--embedded",
        "--workflows",
        "50",
        "--concurrency",
        "20",
        "--max-interval",
        "0.3",
        "--main-workers",
        "2",
        "--data-dir",
        str(tmp_path / "stack"),
        "--json",
        str(report_path),
    ]
    # Stopped with all it started on every path, a timeout included; its PostgreSQL too.
    try:
        with popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as proc:
            stdout, stderr = proc.communicate(timeout=120)
    finally:
        stop_postmasters(tmp_path)
    assert proc.returncode == 0, stdout + stderr
    report = json.loads(report_path.read_text())
    assert (report["completed"], report["lost"], report["duplicates"]) == (50, 0, 0)
    assert report["batch_size"]["batches"] >= 1
    if "DATABASE_URL" not in env:
        # Its own PostgreSQL, autovacuum paused: the count is the flushes' commits (one each),
        # the run's own reading of the counter and the few start-up queries of the batcher's
        # idle connection that PostgreSQL publishes late (2 here); one commit per write would
        # be 50 more.
        assert report["autovacuum_paused"] is True
        batches = report["batch_size"]["batches"]
        assert batches <= report["db_transactions"] < batches + 10, report
    assert sum(report["batch_size"]["histogram"].values()) == report["batch_size"]["batches"]
    assert "acked 50" in stderr  # the progress line's last state
    # Two main workers fed one shard; every write's history is counted, none was resent.
    assert report["batchers"]["shards"] == 1
    assert report["batchers"]["duplicates_dropped"] == 0
    assert report["history_events"]["caller_mean"] > 0
    assert report["history_events"]["batcher_per_write"] > 0
    # Billable actions from the dev server's own counter: one start per payment at least.
    per_write = report["actions"]["per_write"]
    assert per_write["StartWorkflowExecution"] >= 1.0
    assert per_write["total"] > 2.0


def test_duration_times_rate_sets_the_workflow_count() -> None:
    args = parse(["--rate", "20", "--duration", "3"])
    assert (args.workflows, args.concurrency) == (60, None)


def test_worker_flags_need_embedded_and_map_to_worker_env() -> None:
    with pytest.raises(SystemExit):
        parse(["--shards", "2"])
    with pytest.raises(SystemExit):
        parse(["--main-workers", "8"])
    flags = ["--embedded", "--shards", "2", "--batch-size", "50", "--mode", "adaptive"]
    args = parse([*flags, "--linger", "0.1", "--main-workers", "8"])
    # Shards and the linger are the batcher's intake settings since writes are activities.
    assert worker_settings(args) == {
        "main_service": {},
        "batcher_service": {
            "BATCHER_SHARDS": "2",
            "SUBMIT_LINGER_SECONDS": "0.1",
            "BATCH_MAX_SIZE": "50",
            "BATCH_MODE": "adaptive",
        },
    }
    assert args.main_workers == 8
    assert parse(["--embedded"]).main_workers == 1


def test_batch_size_distribution() -> None:
    dist = size_distribution([1, 3, 3, 40, 600])
    assert (dist["batches"], dist["min"], dist["max"], dist["p50"]) == (5, 1, 600, 3)
    assert dist["histogram"] == {"1-1": 1, "3-5": 2, "21-50": 1, "501-1000": 1}


def test_steady_rate_leaves_out_filling_and_draining() -> None:
    # 100 completions at 10/s, after a 5 s fill with none and a drain of 10 at once.
    steady = [5.0 + i / 10 for i in range(100)]
    drained = [steady[-1] + 0.01] * 10
    assert steady_rate(steady + drained) == 10.0
    assert steady_rate([1.0, 2.0]) == 0.0, "too few to tell"


def test_bench_two_table_spec_is_the_demos_ledger_plus_the_bench_events(tmp_path: Path) -> None:
    specs = load_table_specs(write_tables_file(tmp_path))
    assert specs[LEDGER_TABLE] == load_table_specs(MAIN_TABLES_FILE)[LEDGER_TABLE]
    assert specs[EVENTS_TABLE].mode is WriteMode.APPEND
    assert set(specs) == {LEDGER_TABLE, EVENTS_TABLE}
