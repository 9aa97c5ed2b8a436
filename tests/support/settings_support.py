"""What the settings tests share: the environments each service starts with, variable groups."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TABLES = {"WRITE_TABLES_FILE": str(ROOT / "main-service" / "main_service" / "tables.yaml")}
DB = {**TABLES, "DATABASE_URL": "postgresql://u:s3cret-pw@localhost:5432/db"}
# main-service needs nothing set: it reads no table spec (the batcher validates every write).
MAIN: dict[str, str] = {}
# The batcher's intake: how callers' writes are checked, routed to shards and coalesced.
INTAKE = ("BATCHER_SHARDS", "BATCHER_ID_PREFIX", "SUBMIT_LINGER_SECONDS", "MAX_ROW_BYTES")
# Settings of the old write path (ack query polling, withdrawal retries), read by nobody now.
REMOVED = ("ACK_POLL_SECONDS", "WITHDRAW_RETRY_SECONDS")
