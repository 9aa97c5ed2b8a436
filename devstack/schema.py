"""An app's own DDL: ``python -m devstack.schema FILE...`` applies each to ``DATABASE_URL``."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from main_service.files import SCHEMA_FILE, TABLES_FILE
from write_batcher_kit.lifecycle import exit_process

# The payment demo's table spec and DDL: what the batcher and the main worker are started with.
MAIN_TABLES_FILE = TABLES_FILE
MAIN_SCHEMA = SCHEMA_FILE


async def apply_schemas(database_url: str, paths: Sequence[Path]) -> None:
    """Run each file as one script; the files are idempotent (``IF NOT EXISTS``)."""
    conn = await asyncpg.connect(database_url, timeout=30)
    try:
        for path in paths:
            await conn.execute(path.read_text())
    finally:
        await conn.close()


def main() -> int:
    database_url = os.environ.get("DATABASE_URL", "").strip()
    if not database_url or len(sys.argv) < 2:
        print("usage: DATABASE_URL=... python -m devstack.schema FILE...", file=sys.stderr)
        return 2
    asyncio.run(apply_schemas(database_url, [Path(p) for p in sys.argv[1:]]))
    return 0


if __name__ == "__main__":
    exit_process(main())
