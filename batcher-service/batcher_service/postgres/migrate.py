"""Versioned, forward-only migrations of the batcher's own tables (``... migrate``)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection = asyncpg.Connection | PoolConnectionProxy[asyncpg.Record]

log = logging.getLogger("batcher_service.postgres.migrate")

# Two workers or hook jobs migrating at once must not race on CREATE TABLE.
_LOCK_KEY = 0x5752495445  # "WRITE"
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
LEDGER = "write_batcher_schema_migrations"


@dataclass(frozen=True)
class Migration:
    """One forward-only step; its version is its file's four-digit prefix."""

    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """Every step shipped in batcher_service/postgres/migrations, in version order."""
    found = []
    for entry in resources.files("batcher_service.postgres.migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version: {versions}")
    return found


async def migrate(database_url: str) -> list[int]:
    """Apply the steps not yet recorded, each in its own transaction; returns their versions."""
    conn = await asyncpg.connect(database_url, timeout=30)
    applied: list[int] = []
    try:
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {LEDGER} (
                version int PRIMARY KEY, name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        for step in migrations():
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
                done = await conn.fetchval(
                    f"SELECT 1 FROM {LEDGER} WHERE version = $1", step.version
                )
                if done:
                    continue
                await conn.execute(step.sql)
                await conn.execute(
                    f"INSERT INTO {LEDGER} (version, name) VALUES ($1, $2)", step.version, step.name
                )
                applied.append(step.version)
                log.info("applied migration %04d %s", step.version, step.name)
    finally:
        await conn.close()
    return applied


async def pending(conn: Connection) -> list[int]:
    """The shipped steps this database has not recorded: all of them before any migration."""
    if await conn.fetchval("SELECT to_regclass($1)", LEDGER) is None:
        return [m.version for m in migrations()]
    done = {r["version"] for r in await conn.fetch(f"SELECT version FROM {LEDGER}")}
    return [m.version for m in migrations() if m.version not in done]
