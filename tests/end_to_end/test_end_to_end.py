"""End to end through real worker processes, a file-persisted dev server and PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from devstack.stack import Stack
from loadtest.verify import verify_writes
from main_service.activities import AUTHORIZATION_LIMIT_CENTS
from main_service.names import (
    INVALID_PAYMENT,
    LEDGER_TABLE,
    MAIN_TASK_QUEUE,
    PAYMENT_DECLINED,
    PAYMENT_WORKFLOW,
)
from main_service.payments import PaymentRequest, PaymentResult
from main_service.starter import run_payments
from tests.support.processes import popen, stop_postmasters
from write_batcher import errors
from write_batcher_kit.client import connect


async def test_payments_flow_through_both_worker_processes(
    tmp_path: Path, database_url: str
) -> None:
    stack = Stack(tmp_path / "stack", database_url=database_url).start()
    try:
        batcher = stack.start_worker("batcher_service", BATCH_MAX_INTERVAL_SECONDS="0.3")
        main = stack.start_worker("main_service")
        assert stack.temporal_address is not None
        client = await connect({"target_host": stack.temporal_address, "namespace": "default"})
        report = await run_payments(client, 60, accounts=7)
        assert report.completed == 60, report.summary()
        check = await verify_writes(database_url, report.completed_ids)
        assert (check.rows, check.lost, check.duplicates) == (60, 0, 0)
        assert 1 <= check.batches < 60
        assert report.failed == 0, report.failures
        # Graceful stop on SIGTERM: both exit 0.
        assert main.stop() == 0, main.tail()
        assert batcher.stop() == 0, batcher.tail()
    finally:
        stack.stop()


async def test_business_failures_are_typed_and_write_nothing(
    tmp_path: Path, database_url: str
) -> None:
    stack = Stack(tmp_path / "stack", database_url=database_url, persist_temporal=False).start()
    try:
        stack.start_worker("batcher_service")
        stack.start_worker("main_service")
        assert stack.temporal_address is not None
        client = await connect({"target_host": stack.temporal_address, "namespace": "default"})
        cases = {
            "neg": (PaymentRequest("t-neg", "acct-1", -5), INVALID_PAYMENT),
            "zero": (PaymentRequest("t-zero", "acct-1", 0), INVALID_PAYMENT),
            "cur": (PaymentRequest("t-cur", "acct-1", 100, currency="eur"), INVALID_PAYMENT),
            "big": (
                PaymentRequest("t-big", "acct-1", AUTHORIZATION_LIMIT_CENTS + 1),
                PAYMENT_DECLINED,
            ),
            # Past the payment's own checks, refused by the table spec (memo: 200 characters).
            "memo": (PaymentRequest("t-memo", "acct-1", 100, memo="m" * 201), errors.INVALID_WRITE),
        }
        for name, (payment, expected) in cases.items():
            with pytest.raises(WorkflowFailureError) as caught:
                await client.execute_workflow(
                    PAYMENT_WORKFLOW, payment, id=payment.payment_id, task_queue=MAIN_TASK_QUEUE
                )
            # The workflow's own failure carries the type, not an ActivityError around it.
            cause = caught.value.cause
            assert isinstance(cause, ApplicationError), (name, cause)
            assert (cause.type, cause.non_retryable) == (expected, True), name
        ok = await client.execute_workflow(
            PAYMENT_WORKFLOW,
            PaymentRequest("t-ok", "acct-1", AUTHORIZATION_LIMIT_CENTS),
            id="t-ok",
            task_queue=MAIN_TASK_QUEUE,
            result_type=PaymentResult,
        )
        assert ok.outcome == "written" and ok.batch_id
        conn = await asyncpg.connect(database_url)
        try:
            ids = await conn.fetch(f"SELECT payment_id, batch_id FROM {LEDGER_TABLE}")
        finally:
            await conn.close()
        assert [(r["payment_id"], r["batch_id"]) for r in ids] == [("t-ok", ok.batch_id)]
    finally:
        stack.stop()


@contextlib.contextmanager
def _demo(env: dict[str, str], *args: str) -> Iterator[subprocess.Popen[str]]:
    """``python -m devstack demo`` with its output readable line by line as it comes; on the
    way out, whatever happened, it and all it started (its PostgreSQL too) are stopped."""
    try:
        with popen(
            [sys.executable, "-m", "devstack", "demo", *args],
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as demo:
            yield demo
    finally:
        stop_postmasters(Path(env["DATA_DIR"]))


def _read_until(demo: subprocess.Popen[str], marker: str) -> list[str]:
    assert demo.stdout is not None
    lines = []
    for line in demo.stdout:
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"the demo ended before {marker!r}:\n{''.join(lines)}")


def _postmasters(data_dir: Path) -> list[str]:
    """PostgreSQL servers still running from a data directory under ``data_dir``."""
    return [str(p) for p in data_dir.rglob("postmaster.pid")]


def test_demo_runs_payments_end_to_end(tmp_path: Path, database_url: str) -> None:
    """``make demo`` with a few payments: migrations, both workers, the database check."""
    env = {**os.environ, "DATA_DIR": str(tmp_path / "demo"), "DATABASE_URL": database_url}
    with _demo(env, "--workflows", "20", "--accounts", "4") as demo:
        out, _ = demo.communicate(timeout=240)
    assert demo.returncode == 0, out
    result = json.loads(out.strip().splitlines()[-1])
    assert (result["completed"], result["failed"]) == (20, 0), result
    assert (result["rows"], result["lost"], result["duplicates"]) == (20, 0, 0), result
    assert 1 <= result["batches"] < 20


def test_demo_ui_option_serves_the_temporal_ui(tmp_path: Path, database_url: str) -> None:
    import psutil  # noqa: PLC0415  (a dependency of pgserver)

    env = {**os.environ, "DATA_DIR": str(tmp_path / "demo"), "DATABASE_URL": database_url}
    with _demo(env, "--workflows", "3", "--ui") as demo:
        lines = _read_until(demo, "stays up")
        address = next(
            (x.split(": ", 1)[1].strip() for x in lines if x.startswith("temporal ui: ")), None
        )
        started = psutil.Process(demo.pid).children(recursive=True)
        assert address is not None and address.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(address, timeout=10) as page:
            assert page.status == 200
        demo.send_signal(signal.SIGINT)
        began = time.monotonic()
        assert demo.wait(timeout=60) == 0
        # The bound the README gives Ctrl-C, with room for a loaded machine.
        assert time.monotonic() - began < 10.0
        _, alive = psutil.wait_procs(started, timeout=10)
        assert alive == [], [p.cmdline() for p in alive]


def test_sigterm_to_the_demo_stops_every_process_it_started(tmp_path: Path) -> None:
    import psutil  # noqa: PLC0415  (a dependency of pgserver)

    data_dir = tmp_path / "demo"
    env = {**os.environ, "DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    with _demo(env, "--workflows", "2000") as demo:
        _read_until(demo, "workers started")
        children = psutil.Process(demo.pid).children(recursive=True)
        assert len(children) >= 3  # dev server, both workers
        # Its own PostgreSQL detached from it (pg_ctl): no process tree shows it.
        assert _postmasters(data_dir)
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=60) != 0
        _, alive = psutil.wait_procs(children, timeout=30)
        assert alive == [], [p.cmdline() for p in alive]
        # A postmaster that stopped removed its pid file.
        assert _postmasters(data_dir) == []


def test_a_killed_demo_leaves_no_process_behind(tmp_path: Path, database_url: str) -> None:
    """kill -9 gives the demo no chance to stop anything: its children go by themselves."""
    import psutil  # noqa: PLC0415  (a dependency of pgserver)

    env = {**os.environ, "DATA_DIR": str(tmp_path / "demo"), "DATABASE_URL": database_url}
    with _demo(env, "--workflows", "2000") as demo:
        _read_until(demo, "workers started")
        children = psutil.Process(demo.pid).children(recursive=True)
        assert len(children) >= 3  # dev server, both workers
        demo.kill()
        demo.wait()
        _, alive = psutil.wait_procs(children, timeout=30)
        assert alive == [], [p.cmdline() for p in alive]
