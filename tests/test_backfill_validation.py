"""Bad backfill input fails with its typed, non-retryable error before any row moves."""

from __future__ import annotations

import asyncpg
import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment

from devstack.ports import free_port
from shared import errors
from shared.backfill_payloads import BackfillInput
from tests.backfill_helpers import (
    backfill_worker,
    make_source,
    make_target,
    source_url,  # noqa: F401  (fixture)
    start_backfill,
)

CASES = {
    "unreachable source": (errors.BACKFILL_SOURCE_UNREACHABLE, {"source_url": "unreachable"}),
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
    temporal_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    source_url: str,  # noqa: F811
) -> None:
    error_type, overrides = CASES[case]
    await make_source(source_url, 50)
    src = await asyncpg.connect(source_url)
    try:
        await src.execute(
            "CREATE TABLE dups (k int, v text); INSERT INTO dups VALUES (1,'a'),(1,'b')"
        )
        await src.execute("CREATE TABLE nulls (k int UNIQUE); INSERT INTO nulls VALUES (1),(NULL)")
    finally:
        await src.close()
    await make_target(db_pool)
    await db_pool.execute("CREATE TABLE narrow (id int8 PRIMARY KEY, name text)")
    await db_pool.execute(
        "CREATE TABLE wrong_type (id int8 PRIMARY KEY, name int8, amount numeric, note text, "
        "created timestamptz)"
    )
    if overrides.get("source_url") == "unreachable":
        password_url = f"postgresql://app:s3cret@127.0.0.1:{free_port()}/db"
        overrides = {**overrides, "source_url": password_url}
    fields = {
        "source_url": source_url,
        "key": "id",
        "target_table": "items_copy",
        "source_table": "items",
        **overrides,
    }
    client = temporal_env.client
    async with backfill_worker(client, db_pool) as queue:
        handle = await start_backfill(client, queue, BackfillInput(**fields))  # type: ignore[arg-type]
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == error_type, cause.cause.message
    assert cause.cause.non_retryable
    assert "s3cret" not in cause.cause.message
    assert cause.retry_state is not None
    assert await db_pool.fetchval("SELECT count(*) FROM items_copy") == 0
