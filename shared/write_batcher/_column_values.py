"""Strict checks of one value against its column's type, and the value asyncpg encodes."""

from __future__ import annotations

import math
import re
import uuid
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from write_batcher.tables import ColumnSpec

_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
# Exactly representable in a float8: larger ints would be rounded, which is coercion.
_FLOAT_EXACT_INT = 2**53
_INT_RANGES = {"int2": 2**15, "int4": 2**31, "int8": 2**63}


class RowValidationError(ValueError):
    """A row does not fit its table's spec; the message says which column and why."""


def _type_error(col: ColumnSpec, value: object) -> RowValidationError:
    return RowValidationError(
        f"column {col.name!r} ({col.type}) cannot take a {type(value).__name__}"
    )


def _check_text(col: ColumnSpec, value: str) -> None:
    if "\x00" in value:
        raise RowValidationError(f"column {col.name!r} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RowValidationError(
            f"column {col.name!r} is not valid Unicode (lone surrogate)"
        ) from None
    if col.max_length is not None and len(value) > col.max_length:
        raise RowValidationError(
            f"column {col.name!r} is {len(value)} characters, the limit is {col.max_length}"
        )


def _check_json(col: ColumnSpec, value: object, depth: int = 0) -> None:
    if depth > 64:
        raise RowValidationError(f"column {col.name!r} is nested too deeply")
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RowValidationError(f"column {col.name!r} holds {value}, which JSON cannot")
        return
    if isinstance(value, str):
        if "\x00" in value:
            raise RowValidationError(f"column {col.name!r} contains a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise RowValidationError(f"column {col.name!r} is not valid Unicode") from None
        return
    if isinstance(value, list):
        for item in value:
            _check_json(col, item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise RowValidationError(f"column {col.name!r} has a non-string object key")
            _check_json(col, key, depth + 1)
            _check_json(col, item, depth + 1)
        return
    raise _type_error(col, value)


def check_value(col: ColumnSpec, value: object) -> None:
    """Strict: a value of the wrong kind is an error, never converted to the right one."""
    kind = col.type
    if kind in ("text", "varchar"):
        if not isinstance(value, str):
            raise _type_error(col, value)
        _check_text(col, value)
        return
    if kind in _INT_RANGES:
        # bool is an int subclass; a True amount is a bug, not a number.
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(col, value)
        bound = _INT_RANGES[kind]
        if not -bound <= value < bound:
            raise RowValidationError(f"column {col.name!r} is out of the {kind} range")
        return
    if kind in ("float4", "float8"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _type_error(col, value)
        if isinstance(value, int) and abs(value) > _FLOAT_EXACT_INT:
            raise RowValidationError(f"column {col.name!r}: {value} is not exact as a float")
        return
    if kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise RowValidationError(
                f"column {col.name!r} (numeric) takes an int or a decimal string, "
                f"got {type(value).__name__}"
            )
        if isinstance(value, str) and not _DECIMAL.match(value):
            raise RowValidationError(f"column {col.name!r}: {value[:40]!r} is not a decimal")
        return
    if kind == "bool":
        if not isinstance(value, bool):
            raise _type_error(col, value)
        return
    if kind in ("jsonb", "json"):
        _check_json(col, value)
        return
    if not isinstance(value, str):
        raise _type_error(col, value)
    _check_parsed(col, value)


def _check_parsed(col: ColumnSpec, value: str) -> None:
    try:
        parsed = to_pg_value(col, value)
    except ValueError:
        raise RowValidationError(
            f"column {col.name!r}: {value[:40]!r} is not a valid {col.type}"
        ) from None
    if isinstance(parsed, datetime) and parsed.tzinfo is None:
        raise RowValidationError(f"column {col.name!r}: a timestamptz needs a UTC offset")


def to_pg_value(col: ColumnSpec, value: Any) -> Any:  # noqa: PLR0911
    """The Python value asyncpg encodes for this column; only after ``check_value`` passed."""
    if value is None:
        return None
    kind = col.type
    if kind == "uuid":
        return uuid.UUID(value)
    if kind == "timestamptz":
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "numeric":
        try:
            return Decimal(value)
        except InvalidOperation as err:
            raise ValueError(str(err)) from None
    if kind in ("float4", "float8"):
        return float(value)
    return value
