"""Bad backfill input fails with its typed, non-retryable error before any row moves; a job
that carries a URL is refused by the workflow itself."""

from __future__ import annotations

import asyncpg
import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

from batcher_service import errors
from batcher_service.backfill.payloads import BackfillInput
from devstack.ports import free_port
from tests.support.backfill_helpers import (
    Backfill,
    Source,
    make_source,
    make_target,
)

CASES: dict[str, tuple[str, dict[str, object]]] = {
    "unreachable source": (errors.BACKFILL_SOURCE_UNREACHABLE, {"source": "dead"}),
    "unknown source name": (errors.BACKFILL_SOURCE_UNKNOWN, {"source": "nowhere"}),
    "missing table": (errors.BACKFILL_SOURCE_NOT_FOUND, {"source_table": "nope"}),
    "broken query": (
        errors.BACKFILL_SOURCE_NOT_FOUND,
        {"source_table": None, "source_query": "SELECT * FROM nope"},
    ),
    "missing key column": (errors.BACKFILL_KEY_NOT_FOUND, {"key": "nope"}),
    "duplicate keys": (errors.BACKFILL_KEY_NOT_UNIQUE, {"source_table": "dups", "key": "k"}),
    "null keys": (errors.BACKFILL_KEY_NOT_UNIQUE, {"source_table": "nulls", "key": "k"}),
    "unorderable key": (
        errors.BACKFILL_KEY_NOT_ORDERABLE,
        {"source_table": None, "source_query": "SELECT '{}'::json AS k", "key": "k"},
    ),
    "target column missing": (errors.BACKFILL_TARGET_INCOMPATIBLE, {"target_table": "narrow"}),
    "target column type": (errors.BACKFILL_TARGET_INCOMPATIBLE, {"target_table": "wrong_type"}),
    "target table missing": (errors.BACKFILL_TARGET_INCOMPATIBLE, {"target_table": "nope"}),
    "bad batch size": (errors.BACKFILL_INVALID_INPUT, {"batch_size": 0}),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_input_fails_typed_before_any_row_moves(
    case: str,
    backfill: Backfill,
) -> None:
    error_type, overrides = CASES[case]
    await make_source(backfill.source.url, 50)
    src = await asyncpg.connect(backfill.source.url)
    try:
        await src.execute(
            "CREATE TABLE dups (k int, v text); INSERT INTO dups VALUES (1,'a'),(1,'b')"
        )
        await src.execute("CREATE TABLE nulls (k int UNIQUE); INSERT INTO nulls VALUES (1),(NULL)")
    finally:
        await src.close()
    await make_target(backfill.pool)
    await backfill.pool.execute("CREATE TABLE narrow (id int8 PRIMARY KEY, name text)")
    await backfill.pool.execute(
        "CREATE TABLE wrong_type (id int8 PRIMARY KEY, name int8, amount numeric, note text, "
        "created timestamptz)"
    )
    dead = Source("dead", f"postgresql://app:s3cret@127.0.0.1:{free_port()}/db", "s3cret")
    fields: dict[str, object] = {
        "source": backfill.source.name,
        "key": "id",
        "target_table": "items_copy",
        "source_table": "items",
        **overrides,
    }
    async with backfill.worker(dead) as queue:
        handle = await backfill.start(queue, BackfillInput(**fields))  # type: ignore[arg-type]
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == error_type, cause.cause.message
    assert cause.cause.non_retryable
    assert "s3cret" not in cause.cause.message
    assert cause.retry_state is not None
    assert await backfill.pool.fetchval("SELECT count(*) FROM items_copy") == 0


async def _failure_of(handle: object) -> ApplicationError:
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()  # type: ignore[attr-defined]
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause


@pytest.mark.parametrize(
    ("given", "error_type"),
    [
        ("postgresql://app@db.internal:5432/crm", errors.BACKFILL_SOURCE_REFUSED),
        ("host=db.internal user=app dbname=crm", errors.BACKFILL_SOURCE_REFUSED),
        ("Not-A-Name", errors.BACKFILL_INVALID_INPUT),
    ],
)
async def test_a_job_that_does_not_name_a_source_is_refused_before_any_activity(
    given: str,
    error_type: str,
    backfill: Backfill,
) -> None:
    await make_target(backfill.pool)
    async with backfill.worker() as queue:
        job = BackfillInput(given, "id", "items_copy", source_table="items")
        handle = await backfill.start(queue, job)
        error = await _failure_of(handle)
        events = [e async for e in handle.fetch_history_events()]
    assert error.type == error_type and error.non_retryable
    if error_type == errors.BACKFILL_SOURCE_REFUSED:
        # It says why, and does not repeat what it refused.
        assert "workflow history" in error.message and "BACKFILL_SOURCE_" in error.message
        assert "db.internal" not in error.message
    assert not any(e.HasField("activity_task_scheduled_event_attributes") for e in events)


async def test_a_worker_without_sources_refuses_every_job(
    backfill: Backfill,
) -> None:
    await backfill.tables(10)
    async with backfill.worker(no_sources=True) as queue:
        job = backfill.job()
        with pytest.raises(WorkflowFailureError) as failure:
            await (await backfill.start(queue, job)).result()
    cause = failure.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == errors.BACKFILL_SOURCE_UNKNOWN and cause.cause.non_retryable
    assert "configured: none" in cause.cause.message
