"""Table spec files: YAML (or JSON) mapping table names to their specs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from write_batcher.tables import ColumnSpec, TableSpec, TableSpecError, WriteMode

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
