"""The embedded stack: dev server, PostgreSQL, migrations and the workers as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres
from devstack.processes import ManagedProcess
from devstack.schema import MAIN_SCHEMA, MAIN_TABLES_FILE
from devstack.temporal_server import TemporalDevServer

# Longest a worker's graceful shutdown may take before it is killed (its grace period is 20 s).
WORKER_STOP_SECONDS = 25.0


class Stack:
    """Starts what is missing (Temporal, PostgreSQL), migrates, runs workers; stops it all.

    By default it carries the payment demo: its DDL is applied after the batcher's migration
    and its table spec reaches the workers as ``WRITE_TABLES_FILE`` (the batcher reads it).
    Another app passes its own ``schemas`` and ``tables_file``.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        database_url: str | None = None,
        temporal_address: str | None = None,
        dynamic_config: Sequence[str] = (),
        worker_env: Mapping[str, str] | None = None,
        persist_temporal: bool = True,
        schemas: Sequence[Path] = (MAIN_SCHEMA,),
        tables_file: Path = MAIN_TABLES_FILE,
        ui: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.temporal_address = temporal_address
        self.worker_env = dict(worker_env or {})
        self.temporal: TemporalDevServer | None = None
        self.postgres: EmbeddedPostgres | None = None
        self._dynamic_config = dynamic_config
        self._persist_temporal = persist_temporal
        self.schemas = tuple(schemas)
        self.tables_file = tables_file
        self._ui = ui
        self._workers: list[ManagedProcess] = []

    def start(self) -> Stack:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.temporal_address is None:
                db = self.data_dir / "temporal.db" if self._persist_temporal else None
                self.temporal = TemporalDevServer(
                    db,
                    log_path=self.data_dir / "logs" / "temporal.log",
                    dynamic_config=self._dynamic_config,
                    ui=self._ui,
                ).start()
                self.temporal_address = self.temporal.address
            if self.database_url is None:
                self.postgres = EmbeddedPostgres(self.data_dir / "postgres")
                self.database_url = self.postgres.start()
            self.migrate()
        except BaseException:
            self.stop()
            raise
        return self

    def env(self, **extra: str) -> dict[str, str]:
        assert self.temporal_address is not None and self.database_url is not None
        env = dict(os.environ)
        env.update(
            TEMPORAL_ADDRESS=self.temporal_address,
            TEMPORAL_NAMESPACE="default",
            DATABASE_URL=self.database_url,
            WRITE_TABLES_FILE=str(self.tables_file),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.worker_env)
        env.update(extra)
        return env

    def migrate(self) -> None:
        """The batcher's own tables (its migration), then the app's tables (its DDL)."""
        subprocess.run(
            [sys.executable, "-m", "batcher_service", "migrate"], env=self.env(), check=True
        )
        if self.schemas:
            subprocess.run(
                [sys.executable, "-m", "devstack.schema", *map(str, self.schemas)],
                env=self.env(),
                check=True,
            )

    @property
    def ui_address(self) -> str | None:
        """The dev server's web UI (``ui=True`` and a dev server this stack started)."""
        return self.temporal.ui_address if self.temporal is not None else None

    def start_worker(self, service: str, **extra_env: str) -> ManagedProcess:
        """Start ``main_service`` or ``batcher_service`` as its own process."""
        return self.start_app_worker(service, extra_env)

    def start_app_worker(
        self, module: str, extra_env: Mapping[str, str] | None = None, *, cwd: Path | None = None
    ) -> ManagedProcess:
        """Start ``python -m <module>`` from ``cwd`` (an app's own worker) as its own process."""
        index = sum(1 for w in self._workers if w.name.startswith(module))
        env = self.env(METRICS_PORT=str(free_port()), **(extra_env or {}))
        proc = ManagedProcess(
            f"{module}-{index}",
            [sys.executable, "-m", module],
            env=env,
            log_path=self.data_dir / "logs" / f"{module}-{index}.log",
            cwd=cwd,
        ).start()
        self._workers.append(proc)
        return proc

    @property
    def workers(self) -> list[ManagedProcess]:
        return list(self._workers)

    def stop(self) -> None:
        # All workers shut down side by side: a stack stops within one worker's grace period.
        for worker in self._workers:
            worker.terminate()
        for worker in reversed(self._workers):
            worker.stop(WORKER_STOP_SECONDS)
        self._workers.clear()
        if self.temporal is not None:
            self.temporal.stop()
            self.temporal = None
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
