"""Request ids and partition keys: deterministic, replay-safe, independent of scheduling order."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from write_batcher.tables import TableSpec, WriteMode

MAX_REQUEST_ID_CHARS = 200
MAX_IDEMPOTENCY_KEY_CHARS = 128
_DIGEST_HEX = 16


class InvalidRowError(ValueError):
    """A row that is not a JSON object of plain values: it cannot even be encoded."""


def canonical_json(row: object) -> str:
    """One text per row content (sorted keys, ASCII escapes: lone surrogates survive)."""
    if not isinstance(row, Mapping):
        raise InvalidRowError(f"row must be a mapping, got {type(row).__name__}")
    if not all(isinstance(k, str) for k in row):
        raise InvalidRowError("row keys must be column names (strings)")
    try:
        return json.dumps(dict(row), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    except (TypeError, ValueError) as err:
        # Only JSON's own values: anything else would be converted on the way (or refused
        # deep in the SDK, failing the workflow task instead of the write).
        raise InvalidRowError(f"row holds a value JSON cannot carry: {err}") from None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_DIGEST_HEX]


def request_id(workflow_id: str, run_id: str, table: str, row_json: str, nth: int) -> str:
    """``{workflow_id}/{run_id}/{table}/{row digest}/{n}``: the n-th identical write of a run.

    The run id keeps a continued-as-new or retried run's writes apart from the previous
    run's; the content digest (not a counter over all writes) keeps the id independent of the
    order in which concurrent writes were scheduled. A workflow id too long to fit is
    replaced by its digest.
    """
    tail = f"{run_id}/{table}/{_digest(row_json)}/{nth}"
    rid = f"{workflow_id}/{tail}"
    if len(rid) > MAX_REQUEST_ID_CHARS:
        rid = f"sha256:{_digest(workflow_id)}/{tail}"
    return rid


def keyed_request_id(table: str, idempotency_key: str) -> str:
    """``{table}:{key}``: the same key is the same write, across runs and workflows."""
    if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise InvalidRowError(
            f"idempotency_key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters"
        )
    return f"{table}:{idempotency_key}"


def default_partition_key(spec: TableSpec, row: Mapping[str, Any], request_id: str) -> str:
    """Keyed tables: the table and the conflict key, so writes to one key meet in one shard."""
    if spec.mode is WriteMode.APPEND:
        return request_id
    return json.dumps([spec.name, *spec.key_of(row)], separators=(",", ":"), sort_keys=True)
