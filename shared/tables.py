"""Table specs: which tables the batcher writes, their columns, conflict key and write mode."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any

# Identifiers we quote in SQL; a spec that needs more is a spec error, not an injection.
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
# Exactly representable in a float8: larger ints would be rounded, which is coercion.
_FLOAT_EXACT_INT = 2**53
_INT_RANGES = {"int2": 2**15, "int4": 2**31, "int8": 2**63}
_ALIASES = {
    "smallint": "int2",
    "integer": "int4",
    "int": "int4",
    "bigint": "int8",
    "real": "float4",
    "double precision": "float8",
    "boolean": "bool",
    "character varying": "varchar",
    "timestamp with time zone": "timestamptz",
}
COLUMN_TYPES = frozenset(
    {
        "text", "varchar", "int2", "int4", "int8", "float4", "float8", "numeric",
        "bool", "jsonb", "json", "uuid", "timestamptz", "date",
    }
)  # fmt: skip


class TableSpecError(ValueError):
    """A table spec (file or object) is malformed; the message names the table and field."""


class RowValidationError(ValueError):
    """A row does not fit its table's spec; the message says which column and why."""


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
            raise RowValidationError(
                f"table {self.name!r} has no column(s): {', '.join(unknown)}"
            )
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


def check_value(col: ColumnSpec, value: object) -> None:  # noqa: PLR0911
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


def to_pg_value(col: ColumnSpec, value: Any) -> Any:
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


def _parse_column(table: str, name: str, raw: object) -> ColumnSpec:
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, dict):
        raise TableSpecError(f"table {table!r}: column {name!r} must be a type or a mapping")
    extra = set(raw) - {"type", "nullable", "max_length"}
    if extra:
        raise TableSpecError(f"table {table!r}: column {name!r}: unknown {sorted(extra)}")
    kind = str(raw.get("type", "")).strip().lower()
    kind = _ALIASES.get(kind, kind)
    nullable = raw.get("nullable", False)
    max_length = raw.get("max_length")
    if not isinstance(nullable, bool):
        raise TableSpecError(f"table {table!r}: column {name!r}: nullable must be true/false")
    if max_length is not None and (
        isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1
    ):
        raise TableSpecError(f"table {table!r}: column {name!r}: max_length must be positive")
    return ColumnSpec(name, kind, nullable, max_length)


def _names(table: str, what: str, raw: object) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        return (raw,)
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise TableSpecError(f"table {table!r}: {what} must be a list of column names")
    return tuple(raw)


def table_spec_from_dict(name: str, raw: Mapping[str, Any]) -> TableSpec:
    """One table from its mapping in a spec file (see docs/tables.md)."""
    if not isinstance(raw, Mapping):
        raise TableSpecError(f"table {name!r} must be a mapping")
    extra = set(raw) - {"columns", "mode", "key", "update_columns", "batch_id_column", "schema"}
    if extra:
        raise TableSpecError(f"table {name!r}: unknown field(s) {sorted(extra)}")
    columns = raw.get("columns")
    if not isinstance(columns, Mapping) or not columns:
        raise TableSpecError(f"table {name!r}: columns must map column names to types")
    try:
        mode = WriteMode(raw.get("mode", "insert"))
    except ValueError:
        raise TableSpecError(
            f"table {name!r}: mode must be one of {', '.join(m.value for m in WriteMode)}"
        ) from None
    return TableSpec(
        name=name,
        columns=tuple(_parse_column(name, str(c), v) for c, v in columns.items()),
        mode=mode,
        key=_names(name, "key", raw.get("key")),
        update_columns=_names(name, "update_columns", raw.get("update_columns")),
        batch_id_column=raw.get("batch_id_column"),
        schema=raw.get("schema"),
    )


def table_specs_from_dict(raw: object) -> dict[str, TableSpec]:
    """``{"tables": {name: spec, ...}}``, the content of a spec file."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("tables"), Mapping):
        raise TableSpecError("a table spec file holds a mapping 'tables: {name: spec}'")
    tables = raw["tables"]
    if not tables:
        raise TableSpecError("the table spec file names no table")
    return {str(name): table_spec_from_dict(str(name), spec) for name, spec in tables.items()}


def load_table_specs(path: str | Path) -> dict[str, TableSpec]:
    """Read a YAML (or JSON, which is YAML) table spec file."""
    import yaml  # noqa: PLC0415  (only processes that load a spec file need it)

    try:
        text = Path(path).read_text()
    except OSError as err:
        raise TableSpecError(f"cannot read table spec file {path}: {err.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise TableSpecError(f"table spec file {path} is not valid YAML: {err}") from None
    return table_specs_from_dict(raw)
