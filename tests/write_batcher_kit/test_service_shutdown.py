"""A worker stops within its bound on SIGTERM, even with a workflow task that never yields."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

from temporalio.testing import WorkflowEnvironment

from write_batcher_kit.service import SHUTDOWN_MARGIN_SECONDS


def test_sigterm_stops_a_worker_whose_workflow_task_is_stuck(
    temporal_env: WorkflowEnvironment,
) -> None:
    address = temporal_env.client.service_client.config.target_host
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.stuck_worker_process",
            address,
            f"stuck-{uuid.uuid4()}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            # The SDK reports the deadlock: the workflow thread is now held for good.
            if "Potential deadlock detected" in line:
                break
        else:
            raise AssertionError("".join(lines))
        proc.send_signal(signal.SIGTERM)
        began = time.monotonic()
        code = proc.wait(timeout=1 + SHUTDOWN_MARGIN_SECONDS + 20)
        took = time.monotonic() - began
        rest = proc.stdout.read()
        assert code == 0, rest
        # Within the worker's grace period and the skeleton's margin, stuck task or not.
        assert took < 1 + SHUTDOWN_MARGIN_SECONDS + 10, (took, rest)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
