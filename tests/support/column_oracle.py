"""What a column accepts, written from the README's rules apart from the validator it checks.

The property tests ask this oracle, not the validator, which values must be accepted: a
validator that refused everything (or let a near miss through) then fails them.
"""

from __future__ import annotations

import math
from typing import Any

from write_batcher.tables import ColumnSpec, TableSpec

INT_BOUNDS = {"int2": 2**15, "int4": 2**31, "int8": 2**63}
# The largest integer a float8 holds exactly; larger ones would be rounded, so are refused.
FLOAT_EXACT = 2**53
JSON_DEPTH = 64


def clean_text(value: str) -> bool:
    """PostgreSQL text: no NUL, and encodable as UTF-8 (no lone surrogate)."""
    return "\x00" not in value and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)


def json_fits(value: Any, depth: int = 0) -> bool:
    if depth > JSON_DEPTH:
        return False
    if value is None or type(value) in (bool, int):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is str:
        return clean_text(value)
    if type(value) is list:
        return all(json_fits(item, depth + 1) for item in value)
    if type(value) is dict:
        return all(
            type(key) is str and json_fits(key, depth + 1) and json_fits(item, depth + 1)
            for key, item in value.items()
        )
    return False


def fits(column: ColumnSpec, value: Any) -> bool:
    """True when ``value`` must be stored as it is in ``column``; False when it must be refused."""
    if value is None:
        return column.nullable
    kind = column.type
    if kind in ("text", "varchar"):
        limit = column.max_length
        return type(value) is str and clean_text(value) and (limit is None or len(value) <= limit)
    if kind in INT_BOUNDS:
        return type(value) is int and -INT_BOUNDS[kind] <= value < INT_BOUNDS[kind]
    if kind in ("float4", "float8"):
        return type(value) is float or (type(value) is int and abs(value) <= FLOAT_EXACT)
    if kind == "bool":
        return type(value) is bool
    if kind in ("json", "jsonb"):
        return json_fits(value)
    raise NotImplementedError(f"the oracle has no rule for {kind}")


def row_fits(spec: TableSpec, row: dict[str, Any]) -> bool:
    """Every column given fits, no unknown column, and every required column is there."""
    names = {column.name for column in spec.columns}
    if not set(row) <= names:
        return False
    return all(
        fits(column, row[column.name]) if column.name in row else column.nullable
        for column in spec.columns
    )
