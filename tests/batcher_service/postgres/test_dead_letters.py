"""Dead letters are kept, listed, resubmitted once fixed; a request id can be looked up."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from batcher_service.cli.dead_letters import list_dead_letters, resubmit
from batcher_service.cli.requests import lookup
from batcher_service.names import DEAD_LETTER_TABLE, REQUEST_TABLE
from batcher_service.shard.state import BatcherConfig
from loadtest.verify import Verification
from tests.support import faults
from tests.support.batcher_support import shard
from tests.support.harness import eventually
from tests.support.writer_tables import create_tables
from write_batcher import WriteResult, errors


@pytest.fixture
async def pool(db_pool: asyncpg.Pool, database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await create_tables(database_url)
    yield db_pool


async def test_rejected_row_is_resubmitted_after_its_cause_is_fixed(
    temporal_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    client = temporal_env.client
    async with shard(client, pool, BatcherConfig()) as s:
        ok = await s.write("accounts", {"account_id": "fine", "balance": 1})
        bad = await s.write("accounts", {"account_id": "neg", "balance": -5, "note": "a\x01b"})
        assert isinstance(ok, WriteResult) and bad == errors.WRITE_REJECTED
        async with pool.acquire() as conn:
            [dead] = await list_dead_letters(conn, 10)
            assert dead["error_type"] == "CheckViolationError"
            assert dead["row"] == {"account_id": "neg", "balance": -5, "note": "a\x01b"}
            found = await lookup(conn, [ok.request_id, str(dead["request_id"]), "nope"])
            assert [a["status"] for a in found] == ["written", "rejected", "not_found"]
            assert found[0]["batch_id"] == ok.batch_id
            await conn.execute("ALTER TABLE accounts DROP CONSTRAINT accounts_balance_check")
            count = await resubmit(
                conn,
                client,
                [str(dead["request_id"])],
                1,
                task_queue=s.batcher_queue,
                id_prefix=s.prefix,
            )
            assert count == 1
        assert (
            await eventually(
                lambda: pool.fetchval("SELECT balance FROM accounts WHERE account_id = 'neg'")
            )
            == -5
        )
        async with pool.acquire() as conn:
            again = await lookup(conn, [str(dead["request_id"])])
        assert again[0]["status"] == "written"


async def test_a_row_whose_dead_lettering_fails_is_rejected_and_the_shard_goes_on(
    temporal_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    """The dead-letter table refuses every row: the bad row's caller still gets its typed
    rejection, the good rows of its batch are written, and the shard writes on after it."""
    await pool.execute(
        f"ALTER TABLE {DEAD_LETTER_TABLE} ADD CONSTRAINT refuse_all CHECK (false) NOT VALID"
    )
    async with shard(temporal_env.client, pool, BatcherConfig()) as s:
        bad = await s.write("accounts", {"account_id": "neg", "balance": -5})
        good = [await s.write("accounts", {"account_id": f"ok-{i}", "balance": i}) for i in (1, 2)]
        stats = await s.stats()
    assert bad == errors.WRITE_REJECTED
    assert all(isinstance(g, WriteResult) for g in good), good
    assert (stats.rows_rejected, stats.rows_dead_lettered, stats.dead_letter_failures) == (1, 0, 1)
    rows = await pool.fetchval("SELECT count(*) FROM accounts")
    written = await pool.fetchval(f"SELECT count(*) FROM {REQUEST_TABLE} WHERE outcome = 'written'")
    assert (rows, written) == (2, 2)
    assert await pool.fetchval(f"SELECT count(*) FROM {DEAD_LETTER_TABLE}") == 0
    faults.record(
        faults.DEAD_LETTERING_FAILS,
        3,
        Verification(2, rows, 2 - rows, written - rows, 0, 0),
        f"the bad row `{bad}` anyway, counted as {stats.dead_letter_failures} dead-letter "
        f"failure; {rows} good rows written after it",
    )
