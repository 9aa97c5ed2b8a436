"""The workers' one-line start-up errors, in real processes: exit 2, no traceback, no secret."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.support.settings_support import DB, MAIN, ROOT, TABLES


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_worker(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", module],
        env={**clean, "METRICS_PORT": "0", **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.mark.parametrize("url", ["postgres://::nope", "postgresql://u:s3cret-pw@db:99999/x"])
def test_batcher_refuses_a_malformed_database_url_at_start(url: str) -> None:
    done = _run_worker("batcher_service", {**TABLES, "DATABASE_URL": url})
    assert done.returncode == 2, done.stderr
    lines = _error_lines(done.stderr)
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("batcher-service: DATABASE_URL")
    assert "s3cret" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("module", "env", "service"),
    [("batcher_service", DB, "batcher-service"), ("main_service", MAIN, "main-service")],
)
def test_a_tuner_beside_fixed_slots_stops_the_worker_at_start(
    module: str, env: dict[str, str], service: str
) -> None:
    tuned = {"WORKER_TUNER": "resource-based", "WORKER_MAX_CONCURRENT_ACTIVITIES": "10"}
    done = _run_worker(module, {**env, **tuned})
    assert done.returncode == 2, done.stderr
    (line,) = _error_lines(done.stderr)
    assert line.startswith(f"{service}: WORKER_TUNER=resource-based"), line
    assert "WORKER_MAX_CONCURRENT_ACTIVITIES" in line


@pytest.mark.parametrize(
    ("module", "env"),
    [("batcher_service", DB), ("main_service", MAIN)],
)
def test_unreachable_temporal_ends_with_one_line_and_exit_2(
    module: str, env: dict[str, str]
) -> None:
    address = f"127.0.0.1:{_free_port()}"
    done = _run_worker(module, {**env, "TEMPORAL_ADDRESS": address})
    assert done.returncode == 2, done.stderr
    lines = _error_lines(done.stderr)
    assert len(lines) == 1, done.stderr  # no traceback, no retry chatter at LOG_LEVEL=INFO
    assert lines[0].startswith(f"{module.replace('_', '-')}: cannot reach the Temporal frontend")
    assert f"TEMPORAL_ADDRESS={address} after 5 attempts" in lines[0]
    assert "s3cret" not in done.stderr
