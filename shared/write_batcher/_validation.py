"""Strict checks of one write against its table's spec, where the specs live: the batcher."""

from __future__ import annotations

import json
from collections.abc import Mapping

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from write_batcher import errors
from write_batcher._ids import default_partition_key
from write_batcher.contract import WriteInput, WriteRequest
from write_batcher.tables import RowValidationError, TableSpec


def invalid_write(request_id: str, why: object) -> ApplicationError:
    # Benign: an expected refusal, answered to its caller; the SDK logs it without a traceback
    # at DEBUG and counts no activity failure for it.
    return ApplicationError(
        f"invalid write {request_id}: {why}",
        type=errors.INVALID_WRITE,
        non_retryable=True,
        category=ApplicationErrorCategory.BENIGN,
    )


def validate_write(
    tables: Mapping[str, TableSpec],
    write: WriteInput,
    *,
    max_row_bytes: int,
    caller_workflow_id: str,
    caller_run_id: str | None = None,
    caller_activity_id: str | None = None,
    caller_attempt: int = 1,
) -> tuple[WriteRequest, int]:
    """The request to hand to a shard and its size as JSON; ``INVALID_WRITE`` if it is not one.

    The error is non-retryable: the caller's write fails at once, nothing is sent.
    """
    rid = write.request_id
    spec = tables.get(write.table)
    if spec is None:
        known = ", ".join(sorted(tables)) or "none"
        raise invalid_write(rid, f"unknown table {write.table!r} (known: {known})")
    try:
        spec.validate(write.row)
    except RowValidationError as err:
        raise invalid_write(rid, f"table {write.table!r}: {err}") from None
    size = len(json.dumps(write.row, separators=(",", ":"), ensure_ascii=False).encode())
    if size > max_row_bytes:
        raise invalid_write(
            rid, f"row is {size} bytes, the batcher's limit (MAX_ROW_BYTES) is {max_row_bytes}"
        )
    if write.partition_key == "":
        raise invalid_write(rid, "partition_key is empty")
    partition = write.partition_key or default_partition_key(spec, write.row, rid)
    request = WriteRequest(
        rid,
        write.table,
        caller_workflow_id,
        partition,
        dict(write.row),
        caller_run_id,
        caller_activity_id,
        caller_attempt,
    )
    return request, size


def validate_activity_input(
    tables: Mapping[str, TableSpec], write: WriteInput, *, max_row_bytes: int
) -> tuple[WriteRequest, int]:
    """``validate_write`` inside the write activity: the request carries that activity's
    address (caller workflow, run and activity id), so it can be completed by id."""
    info = activity.info()
    return validate_write(
        tables,
        write,
        max_row_bytes=max_row_bytes,
        caller_workflow_id=info.workflow_id or "",
        caller_run_id=info.workflow_run_id,
        caller_activity_id=info.activity_id,
        caller_attempt=info.attempt,
    )
