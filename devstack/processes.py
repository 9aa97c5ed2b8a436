"""Child processes that are always stopped: SIGTERM first, SIGKILL only if they hang."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the process that started it dies, even by
    SIGKILL, so a killed demo leaves none of its servers or workers behind (Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class ManagedProcess:
    """One child process with its output in a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log_path: Path,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(os.environ if env is None else env)
        self.log_path = log_path
        self.cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Its own process group: a Ctrl-C in the terminal reaches us, and we stop it in order.
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
        )
        return self

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def kill(self) -> None:
        """SIGKILL to its whole process group, as a crash would: no graceful shutdown.

        Sent even when the leader is gone already: what it started may still be running."""
        if self._proc is not None:
            self.signal_group(signal.SIGKILL)
            self._proc.wait()

    def terminate(self) -> None:
        """SIGTERM to its process group, without waiting: stops of several run side by side."""
        if self.running():
            self.signal_group(signal.SIGTERM)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, wait, then SIGKILL, each to the whole process group; the exit code."""
        proc = self._proc
        if proc is None:
            return None
        self.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
        # The leader may exit before what it started: nothing of its group outlives the stop.
        self.signal_group(signal.SIGKILL)
        proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return proc.returncode

    def signal_group(self, sig: signal.Signals) -> None:
        """``sig`` to the process and everything it started (SIGSTOP/SIGCONT pause it whole)."""
        # start_new_session made the child the leader of its own group: its children go too.
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""
