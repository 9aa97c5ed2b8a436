"""The one bulk statement per table and mode, built from its TableSpec once at start."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from batcher_service.names import REQUEST_TABLE
from write_batcher import TableSpec
from write_batcher._column_values import to_pg_value
from write_batcher.contract import WriteRequest
from write_batcher.tables import COLUMN_TYPES, WriteMode

# The array type each column type is sent as: its own, except varchar (sent as text).
_ARRAY_TYPES = {t: t for t in COLUMN_TYPES} | {"varchar": "text"}


def _q(name: str) -> str:
    return f'"{name}"'


@dataclass(frozen=True)
class TableStatement:
    """One table's statement: each request is recorded in the request table in the same
    statement as its row, so a retried flush writes it once and reports the first outcome.

    Parameters: $1 request ids, $2 row keys (JSON text), $3 ordinals, then one array per
    column, then the batch id and the table name. Returns, per request: ``request_id``,
    ``outcome`` (recorded now) or ``previous_outcome`` / ``previous_batch`` (recorded before).
    """

    spec: TableSpec
    sql: str

    def arguments(self, requests: list[WriteRequest], batch_id: str) -> list[Any]:
        spec = self.spec
        columns: list[list[Any]] = [[] for _ in spec.columns]
        keys: list[str | None] = []
        for req in requests:
            for i, col in enumerate(spec.columns):
                columns[i].append(to_pg_value(col, req.row.get(col.name)))
            keys.append(row_key(spec, req.row))
        for i, col in enumerate(spec.columns):
            if col.type in ("jsonb", "json"):
                # asyncpg encodes json as text; the value was checked to be plain JSON.
                columns[i] = [None if v is None else json.dumps(v) for v in columns[i]]
        return [
            [r.request_id for r in requests],
            keys,
            list(range(len(requests))),
            *columns,
            batch_id,
            spec.name,
        ]


def row_key(spec: TableSpec, row: dict[str, Any]) -> str | None:
    """The conflict key as JSON text: ASCII-only, so any key value fits a text column."""
    if not spec.key:
        return None
    return json.dumps([row.get(k) for k in spec.key], separators=(",", ":"), default=str)


def build_statement(spec: TableSpec) -> TableStatement:
    cols = [c.name for c in spec.columns]
    n = len(cols)
    arrays = ", ".join(
        f"${i}::{_ARRAY_TYPES[c.type]}[]" for i, c in enumerate(spec.columns, start=4)
    )
    batch_param, table_param = f"${n + 4}", f"${n + 5}"
    names = ", ".join(_q(c) for c in cols)
    target_cols = names
    target_vals = ", ".join(f"c.{_q(c)}" for c in cols)
    if spec.batch_id_column:
        target_cols += f", {_q(spec.batch_id_column)}"
        target_vals += f", {batch_param}"
    key = ", ".join(_q(k) for k in spec.key)
    key_match = " AND ".join(f"w.{_q(k)} = c.{_q(k)}" for k in spec.key)
    head = f"""
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::int4[], {arrays})
        AS t(request_id, row_key, ord, {names})
), fresh AS (
    SELECT input.* FROM input
    WHERE NOT EXISTS (SELECT 1 FROM {REQUEST_TABLE} r WHERE r.request_id = input.request_id)
)"""
    if spec.mode is WriteMode.APPEND:
        body = f""", wrote AS (
    INSERT INTO {spec.qualified_name} ({target_cols})
    SELECT {target_vals} FROM fresh c ORDER BY c.ord
), recorded AS (
    INSERT INTO {REQUEST_TABLE} (request_id, table_name, batch_id, outcome, row_key)
    SELECT request_id, {table_param}, {batch_param}, 'written', NULL FROM fresh
    RETURNING request_id, outcome
)"""
    else:
        if spec.mode is WriteMode.UPSERT:
            # One row per key (the latest in the batch): DO UPDATE may not touch a row twice.
            pick = f"SELECT DISTINCT ON ({key}) * FROM fresh ORDER BY {key}, ord DESC"
            sets = [f"{_q(c)} = EXCLUDED.{_q(c)}" for c in spec.updated]
            if spec.batch_id_column:
                sets.append(f"{_q(spec.batch_id_column)} = EXCLUDED.{_q(spec.batch_id_column)}")
            conflict = f"ON CONFLICT ({key}) DO UPDATE SET {', '.join(sets)}"
            lost = "superseded"
        else:
            # The first write to a key in the batch is the one that may insert it.
            pick = f"SELECT DISTINCT ON ({key}) * FROM fresh ORDER BY {key}, ord"
            conflict = f"ON CONFLICT ({key}) DO NOTHING"
            lost = "key_exists"
        body = f""", chosen AS (
    {pick}
), wrote AS (
    INSERT INTO {spec.qualified_name} ({target_cols})
    SELECT {target_vals} FROM chosen c ORDER BY c.ord
    {conflict}
    RETURNING {key}
), won AS (
    SELECT c.request_id FROM chosen c JOIN wrote w ON {key_match}
), recorded AS (
    INSERT INTO {REQUEST_TABLE} (request_id, table_name, batch_id, outcome, row_key)
    SELECT f.request_id, {table_param}, {batch_param},
           CASE WHEN won.request_id IS NULL THEN '{lost}' ELSE 'written' END, f.row_key
    FROM fresh f LEFT JOIN won ON won.request_id = f.request_id
    RETURNING request_id, outcome
)"""
    tail = f"""
SELECT input.request_id, recorded.outcome, previous.outcome AS previous_outcome,
       previous.batch_id AS previous_batch
FROM input
LEFT JOIN recorded ON recorded.request_id = input.request_id
LEFT JOIN {REQUEST_TABLE} previous ON previous.request_id = input.request_id
ORDER BY input.ord
"""
    return TableStatement(spec, head + body + tail)
