"""Processes the tests start: stopped with all they started, and none outlives the session."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil

# Set in the test process's environment, so every process started from it inherits it: even
# one that detaches from us (PostgreSQL's postmaster, started through pg_ctl) is found by it.
SESSION_MARKER = "WB_TEST_SESSION"


def mark_session() -> None:
    os.environ[SESSION_MARKER] = uuid.uuid4().hex


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _describe(process: psutil.Process) -> str:
    try:
        return f"{process.pid}: {' '.join(process.cmdline())[:200]}"
    except psutil.Error:
        return f"{process.pid}: (gone)"


def started_here() -> list[psutil.Process]:
    """Live processes this session started: its descendants, and any carrying its marker."""
    me = psutil.Process()
    found = {p.pid: p for p in me.children(recursive=True)}
    token = os.environ.get(SESSION_MARKER)
    if token:
        for process in psutil.process_iter():
            if process.pid == me.pid or process.pid in found:
                continue
            with contextlib.suppress(psutil.Error):
                if process.environ().get(SESSION_MARKER) == token:
                    found[process.pid] = process
    return [p for p in found.values() if _alive(p)]


def left_behind(grace: float = 10.0) -> list[str]:
    """Processes still alive ``grace`` seconds on (stops under way may finish), killed here."""
    _, alive = psutil.wait_procs(started_here(), timeout=grace)
    alive = [p for p in alive if _alive(p)]
    described = [_describe(p) for p in alive]
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=5)
    return described


def stop_tree(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``, to ``pid``, its process group when it leads one
    and every descendant found before the signals (also those in groups of their own)."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        tree = []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        for process in tree:
            with contextlib.suppress(psutil.Error):
                process.send_signal(sig)
        _, tree = psutil.wait_procs(tree, timeout=timeout)
        if not tree:
            return


def stop_postmasters(root: Path, timeout: float = 10.0) -> None:
    """Fast shutdown of every PostgreSQL whose data directory lies under ``root``: a postmaster
    detaches from whoever started it, so no process tree holds it."""
    postmasters: list[psutil.Process] = []
    for pid_file in root.rglob("postmaster.pid"):
        with contextlib.suppress(OSError, ValueError, IndexError, psutil.Error):
            process = psutil.Process(int(pid_file.read_text().split()[0]))
            if process.name().startswith("postgres"):
                process.send_signal(signal.SIGINT)
                postmasters.append(process)
    _, alive = psutil.wait_procs(postmasters, timeout=timeout)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()


@contextlib.contextmanager
def popen(argv: Sequence[str], **kwargs: Any) -> Iterator[subprocess.Popen[Any]]:
    """``subprocess.Popen`` in a process group of its own, stopped with all it started on
    every way out of the block: an assert, a timeout, a failure."""
    proc = subprocess.Popen(argv, start_new_session=True, **kwargs)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            stop_tree(proc.pid)
        # What it left in its group goes too, when it ended by itself.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
