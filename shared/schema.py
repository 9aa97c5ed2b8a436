"""The target table's row shape: one source of truth for validation, DDL and the bulk insert."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final


@dataclass(frozen=True)
class Column:
    """One business column of the target table."""

    name: str
    pg_type: str
    py_type: type
    required: bool = True
    max_length: int | None = None


# Business columns a caller supplies. System columns (request_id, batch_id, caller, partition)
# are added by the batcher, so callers cannot forge them.
ROW_COLUMNS: Final[tuple[Column, ...]] = (
    Column("account_id", "text", str, max_length=64),
    Column("amount_cents", "int8", int),
    Column("currency", "text", str, max_length=3),
    Column("auth_code", "text", str, required=False, max_length=64),
    Column("memo", "text", str, required=False, max_length=200),
)

SYSTEM_COLUMNS: Final = ("request_id", "batch_id", "caller_workflow_id", "partition_key")

INT8_MIN: Final = -(2**63)
INT8_MAX: Final = 2**63 - 1


class RowValidationError(ValueError):
    """A row does not fit the target table's shape; the message says which field and why."""


def validate_row(row: dict[str, Any]) -> None:
    """Raise RowValidationError unless ``row`` fits ROW_COLUMNS exactly."""
    if not isinstance(row, dict):
        raise RowValidationError(f"row must be an object, got {type(row).__name__}")
    known = {c.name for c in ROW_COLUMNS}
    unknown = sorted(set(row) - known)
    if unknown:
        raise RowValidationError(f"unknown column(s): {', '.join(unknown)}")
    for col in ROW_COLUMNS:
        value = row.get(col.name)
        if value is None:
            if col.required:
                raise RowValidationError(f"missing required column {col.name!r}")
            continue
        # bool is an int subclass; a True amount is a bug, not a number.
        if isinstance(value, bool) or not isinstance(value, col.py_type):
            raise RowValidationError(
                f"column {col.name!r} must be {col.py_type.__name__}, got {type(value).__name__}"
            )
        if col.max_length is not None and isinstance(value, str) and len(value) > col.max_length:
            raise RowValidationError(
                f"column {col.name!r} is {len(value)} characters, the limit is {col.max_length}"
            )
        if isinstance(value, int) and not INT8_MIN <= value <= INT8_MAX:
            raise RowValidationError(f"column {col.name!r} is out of the int8 range")
