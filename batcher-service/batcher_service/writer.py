"""The bulk write: one idempotent statement per batch, bisection around poison rows."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from batcher_service.db import is_data_error
from shared.names import DEAD_LETTER_TABLE, TARGET_TABLE
from shared.payloads import WriteAck, WriteOutcome, WriteRequest
from shared.schema import ROW_COLUMNS

log = logging.getLogger(__name__)

_COLUMNS = ("request_id", "caller_workflow_id", "partition_key", *(c.name for c in ROW_COLUMNS))
_TYPES = ("text", "text", "text", *(c.pg_type for c in ROW_COLUMNS))
_BATCH_PARAM = len(_COLUMNS) + 1

# unnest() of one array per column: one statement and one round trip whatever the batch size.
# The CTE reports, per request, whether this statement inserted it and, if not, which batch
# did: a retried flush sees its own batch id and still reports "written".
INSERT_SQL = f"""
WITH input AS (
    SELECT * FROM unnest({", ".join(f"${i}::{t}[]" for i, t in enumerate(_TYPES, 1))})
        AS t({", ".join(_COLUMNS)})
), inserted AS (
    INSERT INTO {TARGET_TABLE} (batch_id, {", ".join(_COLUMNS)})
    SELECT ${_BATCH_PARAM}, {", ".join(_COLUMNS)} FROM input
    ON CONFLICT (request_id) DO NOTHING
    RETURNING request_id
)
SELECT input.request_id, inserted.request_id IS NOT NULL AS inserted, existing.batch_id
FROM input
LEFT JOIN inserted ON inserted.request_id = input.request_id
LEFT JOIN {TARGET_TABLE} existing ON existing.request_id = input.request_id
"""

DEAD_LETTER_SQL = f"""
INSERT INTO {DEAD_LETTER_TABLE}
    (request_id, batch_id, caller_workflow_id, partition_key, row_data, error_type, error_message)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::text[],
                     $7::text[])
ON CONFLICT (request_id) DO UPDATE SET
    batch_id = EXCLUDED.batch_id, row_data = EXCLUDED.row_data,
    error_type = EXCLUDED.error_type, error_message = EXCLUDED.error_message,
    rejected_at = now(), resubmitted_at = NULL
"""


@dataclass
class WriteReport:
    """Acks for every request of a batch and the statements it took."""

    acks: dict[str, WriteAck] = field(default_factory=dict)
    statements: int = 0


def _columns_of(requests: list[WriteRequest]) -> list[list[Any]]:
    arrays: list[list[Any]] = [[] for _ in _COLUMNS]
    for req in requests:
        values = (req.request_id, req.caller_workflow_id, req.partition_key)
        for i, value in enumerate(values):
            arrays[i].append(value)
        for j, col in enumerate(ROW_COLUMNS, start=3):
            arrays[j].append(req.row.get(col.name))
    return arrays


class LedgerWriter:
    """Writes batches into the target table; the only code that inserts business rows."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def write(self, batch_id: str, requests: list[WriteRequest]) -> WriteReport:
        report = WriteReport()
        rejected: list[tuple[WriteRequest, BaseException]] = []
        await self._write_or_split(batch_id, requests, report, rejected)
        if rejected:
            await self._dead_letter(batch_id, rejected)
            report.statements += 1
            for req, err in rejected:
                report.acks[req.request_id] = WriteAck(
                    req.request_id,
                    WriteOutcome.REJECTED,
                    batch_id,
                    type(err).__name__,
                    str(err),
                )
        return report

    async def _write_or_split(
        self,
        batch_id: str,
        requests: list[WriteRequest],
        report: WriteReport,
        rejected: list[tuple[WriteRequest, BaseException]],
    ) -> None:
        if not requests:
            return
        report.statements += 1
        try:
            rows = await self._pool.fetch(INSERT_SQL, *_columns_of(requests), batch_id)
        except Exception as err:
            if not is_data_error(err):
                raise
            if len(requests) == 1:
                log.warning("rejected %s: %s: %s", requests[0].request_id, type(err).__name__, err)
                rejected.append((requests[0], err))
                return
            # Bisection: every good row still lands, only rows that fail alone are rejected.
            mid = len(requests) // 2
            await self._write_or_split(batch_id, requests[:mid], report, rejected)
            await self._write_or_split(batch_id, requests[mid:], report, rejected)
            return
        for row in rows:
            rid = row["request_id"]
            if row["inserted"] or row["batch_id"] == batch_id:
                report.acks[rid] = WriteAck(rid, WriteOutcome.WRITTEN, batch_id)
            else:
                report.acks[rid] = WriteAck(rid, WriteOutcome.ALREADY_WRITTEN, row["batch_id"])

    async def _dead_letter(
        self, batch_id: str, rejected: list[tuple[WriteRequest, BaseException]]
    ) -> None:
        # Nothing handed to the batcher vanishes: a rejected row is kept with its error.
        await self._pool.execute(
            DEAD_LETTER_SQL,
            [r.request_id for r, _ in rejected],
            [batch_id] * len(rejected),
            [r.caller_workflow_id for r, _ in rejected],
            [r.partition_key for r, _ in rejected],
            [json.dumps(r.row) for r, _ in rejected],
            [type(e).__name__ for _, e in rejected],
            [str(e) for _, e in rejected],
        )
