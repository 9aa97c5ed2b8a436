"""End to end through real worker processes, a file-persisted dev server and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devstack.stack import Stack
from devstack.verify import verify_writes
from main_service.starter import run_payments
from shared.client import connect


async def test_payments_flow_through_both_worker_processes(
    tmp_path: Path, database_url: str
) -> None:
    stack = Stack(tmp_path / "stack", database_url=database_url).start()
    try:
        batcher = stack.start_worker("batcher_service", BATCH_MAX_WAIT_SECONDS="0.3")
        main = stack.start_worker("main_service")
        assert stack.temporal_address is not None
        client = await connect({"target_host": stack.temporal_address, "namespace": "default"})
        report = await run_payments(client, 60, accounts=7)
        assert report.completed == 60, report.summary()
        check = await verify_writes(database_url, report.completed_ids)
        assert (check.rows, check.lost, check.duplicates) == (60, 0, 0)
        assert 1 <= check.batches < 60
        # Graceful stop on SIGTERM: both exit 0.
        assert main.stop() == 0, main.tail()
        assert batcher.stop() == 0, batcher.tail()
    finally:
        stack.stop()


def test_worker_refuses_to_start_without_database_url() -> None:
    env = {"PATH": "/usr/bin:/bin", "TEMPORAL_ADDRESS": "127.0.0.1:1"}
    proc = subprocess.run(
        [sys.executable, "-m", "batcher_service"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "DATABASE_URL" in proc.stderr


def test_malformed_setting_is_named_at_start() -> None:
    env = {"PATH": "/usr/bin:/bin", "ACK_TIMEOUT_SECONDS": "soon"}
    proc = subprocess.run(
        [sys.executable, "-m", "main_service"], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert "ACK_TIMEOUT_SECONDS" in proc.stderr


def test_sigint_stops_a_worker_gracefully(tmp_path: Path, database_url: str) -> None:
    with Stack(tmp_path / "stack", database_url=database_url) as stack:
        worker = stack.start_worker("main_service")
        time.sleep(3)
        assert worker.running(), worker.tail()
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGINT)
        deadline = time.monotonic() + 20
        while worker.running() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert worker.returncode() == 0, worker.tail()


def test_sigterm_to_the_demo_stops_every_process_it_started(tmp_path: Path) -> None:
    import psutil  # noqa: PLC0415  (a dependency of pgserver)

    env = {**os.environ, "DATA_DIR": str(tmp_path / "demo"), "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    demo = subprocess.Popen(
        [sys.executable, "-m", "devstack", "demo", "--workflows", "2000"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert demo.stdout is not None
    for line in demo.stdout:
        if "workers started" in line:
            break
    children = psutil.Process(demo.pid).children(recursive=True)
    assert len(children) >= 3  # dev server, both workers (and PostgreSQL's processes)
    demo.send_signal(signal.SIGTERM)
    assert demo.wait(timeout=60) != 0
    _, alive = psutil.wait_procs(children, timeout=30)
    assert alive == [], [p.cmdline() for p in alive]
