"""Checks each table spec against PostgreSQL's catalog, so a wrong spec fails at start."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import asyncpg

from write_batcher import TableSpec
from write_batcher.tables import ColumnSpec, WriteMode

# The catalog's type names (pg_type.typname) each spec type may write into.
_COMPATIBLE = {
    "text": {"text", "varchar", "bpchar"},
    "varchar": {"text", "varchar"},
    "int2": {"int2", "int4", "int8", "numeric"},
    "int4": {"int4", "int8", "numeric"},
    "int8": {"int8", "numeric"},
    "float4": {"float4", "float8"},
    "float8": {"float8"},
    "numeric": {"numeric"},
    "bool": {"bool"},
    "jsonb": {"jsonb"},
    "json": {"json", "jsonb"},
    "uuid": {"uuid"},
    "timestamptz": {"timestamptz"},
    "date": {"date"},
}

# Decimal digits of the largest value of each integer spec type.
_INTEGER_DIGITS = {"int2": 5, "int4": 10, "int8": 19}
# pg_attribute.atttypmod of varchar(n), char(n) and numeric(p, s) counts a 4-byte header.
_VARHDRSZ = 4

_COLUMNS_SQL = """
SELECT a.attname AS name, t.typname AS type, a.atttypmod AS typmod, a.attnotnull AS not_null,
       a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '' AS has_default
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
"""
_UNIQUE_SQL = """
SELECT array_agg(a.attname ORDER BY a.attname) AS cols
FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indpred IS NULL
GROUP BY i.indexrelid
"""


if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection = asyncpg.Connection | PoolConnectionProxy[asyncpg.Record]


class TableSpecMismatch(ValueError):
    """A spec does not fit its table; the message names the table and column."""


async def check_specs(conn: Connection, tables: Mapping[str, TableSpec]) -> None:
    problems: list[str] = []
    for spec in tables.values():
        problems.extend(await _check(conn, spec))
    if problems:
        raise TableSpecMismatch("; ".join(problems))


async def _check(conn: Connection, spec: TableSpec) -> list[str]:
    quoted = spec.qualified_name
    relation = f"{spec.schema}.{spec.name}" if spec.schema else spec.name
    exists = await conn.fetchval("SELECT to_regclass($1)", quoted)
    if exists is None:
        return [f"table {relation} does not exist"]
    columns = {r["name"]: r for r in await conn.fetch(_COLUMNS_SQL, quoted)}
    problems = []
    for col in spec.columns:
        found = columns.get(col.name)
        if found is None:
            problems.append(f"{relation} has no column {col.name!r}")
        elif found["type"] not in _COMPATIBLE[col.type]:
            problems.append(f"{relation}.{col.name} is {found['type']}, the spec says {col.type}")
        elif (bounds := _bounds_problem(col, found)) is not None:
            problems.append(f"{relation}.{col.name} is {bounds}")
        elif col.nullable and found["not_null"]:
            problems.append(f"{relation}.{col.name} is NOT NULL, the spec says nullable")
    given = {c.name for c in spec.columns} | {spec.batch_id_column}
    for name, found in columns.items():
        if found["not_null"] and not found["has_default"] and name not in given:
            problems.append(f"{relation}.{name} is NOT NULL without a default and not in the spec")
    if spec.batch_id_column:
        found = columns.get(spec.batch_id_column)
        if found is None or found["type"] not in ("text", "varchar"):
            problems.append(f"{relation}.{spec.batch_id_column} must be a text column")
    if spec.mode is not WriteMode.APPEND:
        uniques = {tuple(r["cols"]) for r in await conn.fetch(_UNIQUE_SQL, quoted)}
        if tuple(sorted(spec.key)) not in uniques:
            problems.append(
                f"{relation} has no unique index on exactly ({', '.join(spec.key)}), "
                f"which mode {spec.mode} needs"
            )
    return problems


def _bounds_problem(col: ColumnSpec, found: asyncpg.Record) -> str | None:
    """What a column declared with a length, precision or scale cannot hold of the spec's
    values; None when every value the spec lets through fits (a wider column always does)."""
    typmod = int(found["typmod"])
    if typmod < 0:
        return None  # no declared bound: text, varchar, numeric without (p, s)
    if found["type"] in ("varchar", "bpchar"):
        length = typmod - _VARHDRSZ
        if col.max_length is None or col.max_length > length:
            allowed = "any length" if col.max_length is None else f"max_length {col.max_length}"
            return f"{found['type']}({length}), the spec allows {allowed}"
        return None
    if found["type"] == "numeric":
        precision = ((typmod - _VARHDRSZ) >> 16) & 0xFFFF
        scale = (typmod - _VARHDRSZ) & 0xFFFF
        digits = _INTEGER_DIGITS.get(col.type)
        if digits is None:
            return f"numeric({precision}, {scale}), the spec's {col.type} has no such bound"
        if precision - scale < digits:
            return f"numeric({precision}, {scale}), too narrow for every {col.type}"
    return None
