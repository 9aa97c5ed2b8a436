"""Table specs: which tables the batcher writes, their columns, conflict key and write mode."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from write_batcher._column_values import RowValidationError, check_value

__all__ = [
    "COLUMN_TYPES",
    "ColumnSpec",
    "RowValidationError",
    "TableSpec",
    "TableSpecError",
    "WriteMode",
]

# Identifiers we quote in SQL; a spec that needs more is a spec error, not an injection.
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
COLUMN_TYPES = frozenset(
    {
        "text", "varchar", "int2", "int4", "int8", "float4", "float8", "numeric",
        "bool", "jsonb", "json", "uuid", "timestamptz", "date",
    }
)  # fmt: skip


class TableSpecError(ValueError):
    """A table spec (file or object) is malformed; the message names the table and field."""


class WriteMode(StrEnum):
    """How a table takes rows whose conflict key already exists."""

    # Insert-or-skip by key: an existing row is left as it is (outcome "key_exists").
    INSERT = "insert"
    # Update the named columns of an existing row; the last write to a key in a batch wins.
    UPSERT = "upsert"
    # No natural key: every write is a new row.
    APPEND = "append"


@dataclass(frozen=True)
class ColumnSpec:
    """One column a caller supplies: its PostgreSQL type and what the caller may send."""

    name: str
    type: str
    nullable: bool = False
    max_length: int | None = None


@dataclass(frozen=True)
class TableSpec:
    """One target table. Column names and types are checked against the catalog at start."""

    name: str
    columns: tuple[ColumnSpec, ...]
    mode: WriteMode = WriteMode.INSERT
    key: tuple[str, ...] = ()
    # Upsert: the columns an existing row takes from the new write (default: all non-key).
    update_columns: tuple[str, ...] = ()
    # Opt-in: a column of the user's table that the batcher fills with the writing batch's id.
    batch_id_column: str | None = None
    schema: str | None = None
    _by_name: dict[str, ColumnSpec] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_identifier(self.name, f"table {self.name!r}")
        if self.schema is not None:
            _check_identifier(self.schema, f"table {self.name!r}: schema")
        if not self.columns:
            raise TableSpecError(f"table {self.name!r}: no columns")
        by_name: dict[str, ColumnSpec] = {}
        for col in self.columns:
            _check_identifier(col.name, f"table {self.name!r}: column {col.name!r}")
            if col.type not in COLUMN_TYPES:
                raise TableSpecError(
                    f"table {self.name!r}: column {col.name!r} has type {col.type!r}; "
                    f"supported: {', '.join(sorted(COLUMN_TYPES))}"
                )
            if col.name in by_name:
                raise TableSpecError(f"table {self.name!r}: column {col.name!r} twice")
            by_name[col.name] = col
        object.__setattr__(self, "_by_name", by_name)
        for name in self.key:
            if name not in by_name:
                raise TableSpecError(f"table {self.name!r}: key column {name!r} is not a column")
            if by_name[name].nullable:
                raise TableSpecError(f"table {self.name!r}: key column {name!r} is nullable")
        if self.mode is WriteMode.APPEND:
            if self.key or self.update_columns:
                raise TableSpecError(f"table {self.name!r}: append mode takes no key")
        elif not self.key:
            raise TableSpecError(f"table {self.name!r}: mode {self.mode} needs a key")
        if self.update_columns and self.mode is not WriteMode.UPSERT:
            raise TableSpecError(f"table {self.name!r}: update_columns is for upsert mode")
        for name in self.update_columns:
            if name not in by_name or name in self.key:
                raise TableSpecError(
                    f"table {self.name!r}: update column {name!r} must be a non-key column"
                )
        if self.batch_id_column is not None:
            _check_identifier(self.batch_id_column, f"table {self.name!r}: batch_id_column")
            if self.batch_id_column in by_name:
                raise TableSpecError(
                    f"table {self.name!r}: batch_id_column {self.batch_id_column!r} is filled "
                    "by the batcher and cannot also be a caller's column"
                )

    @property
    def qualified_name(self) -> str:
        """The quoted name for SQL."""
        if self.schema:
            return f'"{self.schema}"."{self.name}"'
        return f'"{self.name}"'

    def column(self, name: str) -> ColumnSpec:
        return self._by_name[name]

    @property
    def updated(self) -> tuple[str, ...]:
        """Upsert: the columns that change on conflict."""
        if self.update_columns:
            return self.update_columns
        return tuple(c.name for c in self.columns if c.name not in self.key)

    def key_of(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(row[name] for name in self.key)

    def validate(self, row: object) -> None:
        """Raise RowValidationError unless ``row`` fits exactly; nothing is converted."""
        if not isinstance(row, dict):
            raise RowValidationError(f"row must be an object, got {type(row).__name__}")
        unknown = sorted(str(k) for k in row if k not in self._by_name)
        if unknown:
            raise RowValidationError(f"table {self.name!r} has no column(s): {', '.join(unknown)}")
        for col in self.columns:
            value = row.get(col.name)
            if value is None:
                if not col.nullable:
                    raise RowValidationError(f"column {col.name!r} is required")
                continue
            check_value(col, value)


def _check_identifier(name: object, what: str) -> None:
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise TableSpecError(f"{what}: not a plain SQL identifier")
