"""The session check: a run whose tests leave a process behind fails, and the process goes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

from tests.support.processes import popen

REPO = Path(__file__).resolve().parents[2]

INNER_TESTS = """
import os
import os
import subprocess
import sys
from pathlib import Path

PIDS = Path(os.environ["LEAK_PIDS"])


def test_a_process_stopped_in_time_is_fine() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    proc.kill()
    proc.wait()


def test_a_detached_process_is_left_behind() -> None:
    # A double fork: the sleeper is no descendant of pytest any more, as a postmaster is not.
    code = (
        "import os, sys, time\\n"
        "if os.fork():\\n"
        "    os._exit(0)\\n"
        "os.setsid()\\n"
        "print(os.getpid(), flush=True)\\n"
        "time.sleep(120)\\n"
    )
    with PIDS.open("w") as out:
        subprocess.run([sys.executable, "-c", code], stdout=out, check=True)
"""


def test_a_process_left_behind_fails_the_run_and_is_killed(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    )
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    pids = tmp_path / "pids"
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider"]
    with popen(
        [*argv, str(tmp_path / "test_inner.py")],
        cwd=REPO,
        env={**os.environ, "LEAK_PIDS": str(pids)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as inner:
        out, _ = inner.communicate(timeout=120)
    [leaked] = [int(line) for line in pids.read_text().split()]
    assert inner.returncode != 0, out
    assert "processes left behind by the tests" in out and f"{leaked}: " in out, out
    assert "2 passed, 1 error" in out, out
    assert not psutil.pid_exists(leaked) or psutil.Process(leaked).status() == psutil.STATUS_ZOMBIE
