"""Idempotent migration command: ``python -m batcher_service.migrate``."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import asyncpg

from batcher_service.ddl import STATEMENTS
from shared.settings import SettingsError

log = logging.getLogger("batcher_service.migrate")

# Two workers or hook jobs migrating at once must not race on CREATE TABLE.
_LOCK_KEY = 0x5752495445  # "WRITE"


async def migrate(database_url: str) -> None:
    """Create the target and dead-letter tables if they do not exist."""
    conn = await asyncpg.connect(database_url, timeout=30)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            for statement in STATEMENTS:
                await conn.execute(statement)
    finally:
        await conn.close()


def main() -> int:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper())
    database_url = os.environ.get("DATABASE_URL", "").strip()
    try:
        if not database_url:
            raise SettingsError("DATABASE_URL is required (e.g. postgresql://user:pass@host/db)")
        asyncio.run(migrate(database_url))
    except SettingsError as err:
        print(f"migrate: {err}", file=sys.stderr)
        return 2
    except (OSError, asyncpg.PostgresError) as err:
        print(f"migrate: database error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    log.info("migration applied")
    return 0


if __name__ == "__main__":
    sys.exit(main())
