"""PostgreSQL for the embedded default: ``DATABASE_URL`` when set, else ``pgserver``."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class EmbeddedPostgres:
    """A real PostgreSQL 16 from the PyPI package ``pgserver``, data kept in ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self) -> str:
        import pgserver  # noqa: PLC0415  (optional dependency, only the embedded default needs it)

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(  # type: ignore[attr-defined]
            self.data_dir, cleanup_mode="stop"
        )
        return str(self._server.get_uri())

    @property
    def pg_ctl_data(self) -> Path:
        return self.data_dir

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
