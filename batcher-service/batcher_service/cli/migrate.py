"""``python -m batcher_service migrate``: create or update the batcher's own tables."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import asyncpg

from batcher_service.postgres.migrate import migrate
from write_batcher_kit.settings import SettingsError

log = logging.getLogger("batcher_service.migrate")


def main(argv: list[str]) -> int:
    if argv:
        print("usage: DATABASE_URL=... python -m batcher_service migrate", file=sys.stderr)
        return 2
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper())
    database_url = os.environ.get("DATABASE_URL", "").strip()
    try:
        if not database_url:
            raise SettingsError("DATABASE_URL is required (e.g. postgresql://user:pass@host/db)")
        applied = asyncio.run(migrate(database_url))
    except SettingsError as err:
        print(f"migrate: {err}", file=sys.stderr)
        return 2
    except (OSError, asyncpg.PostgresError) as err:
        print(f"migrate: database error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    log.info("migrations up to date (%d applied now)", len(applied))
    return 0
