"""PostgreSQL down longer than the callers' deadline: a typed failure means not written."""

from __future__ import annotations

import asyncio
import time

from temporalio.testing import WorkflowEnvironment

from batcher_service.names import REQUEST_TABLE
from batcher_service.shard.state import BatcherConfig
from loadtest.verify import Verification
from tests.support import faults
from tests.support.batcher_support import shard
from tests.support.faults import record
from tests.support.harness import eventually
from tests.support.outage import StoppablePostgres
from write_batcher import WriteResult, errors
from write_batcher.contract import WriteOutcome, WriteRequest


async def test_postgres_down_past_the_deadline_withdraws_and_never_writes(
    temporal_env: WorkflowEnvironment, pg: StoppablePostgres
) -> None:
    config = BatcherConfig(flush_timeout_seconds=4.0, min_interval_seconds=0.2)
    async with shard(temporal_env.client, pg.pool, config, ack_timeout_seconds=6.0) as s:
        before = await s.write("accounts", {"account_id": "before", "balance": 1})
        assert isinstance(before, WriteResult)
        pg.server.stop()
        began = time.monotonic()
        outcomes = await asyncio.gather(
            *(s.write("accounts", {"account_id": f"down-{i}", "balance": i}) for i in range(10))
        )
        settled_in = time.monotonic() - began
        # Every caller got its typed answer: not written (withdrawn), within the bound.
        assert outcomes == [errors.WRITE_CONFIRMATION_TIMEOUT] * 10, outcomes
        assert settled_in < 6.0 + 4.0 + 10.0, settled_in
        stats = await s.stats()
        assert stats.rows_withdrawn == 10 and stats.flushes_failed >= 1, stats
        # The shard still takes writes while the database is down...
        late = asyncio.create_task(s.write("accounts", {"account_id": "late", "balance": 2}))
        await asyncio.sleep(1.0)
        assert pg.server.start() == pg.url
        # ...and writes them once it is back.
        result = await asyncio.wait_for(late, 60)
        assert isinstance(result, WriteResult) and result.outcome is WriteOutcome.WRITTEN

        # Each withdrawal is recorded too, once the request table can be written (the record
        # activity retries with back-off): a late copy of it is refused for good.
        async def recorded_withdrawals() -> bool:
            return (
                await pg.count(
                    f"SELECT count(*) FROM {REQUEST_TABLE} WHERE outcome = 'withdrawn' "
                    "AND table_name = 'accounts'"
                )
                >= 10
            )

        await eventually(recorded_withdrawals, within=90)
    rows = await pg.count("SELECT count(*) FROM accounts")
    written = await pg.count("SELECT count(*) FROM accounts WHERE account_id IN ('before', 'late')")
    recorded = await pg.count(f"SELECT count(*) FROM {REQUEST_TABLE} WHERE outcome = 'written'")
    withdrawn = await pg.count(
        f"SELECT count(*) FROM {REQUEST_TABLE} WHERE outcome = 'withdrawn' "
        "AND table_name = 'accounts'"
    )
    assert (rows, written, recorded, withdrawn) == (2, 2, 2, 10)
    record(
        faults.PG_DOWN_PAST_DEADLINE,
        12,
        Verification(2, rows, 0, recorded - rows, 0, 0),
        f"10 WriteConfirmationTimeout in {settled_in:.1f} s, none of them written; 2 acked written",
    )


async def test_a_closing_run_hands_over_while_postgres_is_down(
    temporal_env: WorkflowEnvironment, pg: StoppablePostgres
) -> None:
    config = BatcherConfig(flush_timeout_seconds=3.0, max_signals_per_run=3)
    async with shard(temporal_env.client, pg.pool, config) as s:
        pg.server.stop()
        began = time.monotonic()
        sent = 0
        # Signals keep coming while every flush fails: each run still ends and hands over.
        while sent == 0 or ((await s.stats()).runs < 3 and time.monotonic() - began < 40):
            row = {"account_id": f"a{sent}", "balance": sent}
            await s.signal(WriteRequest(f"r{sent}", "accounts", "nobody", f"r{sent}", row))
            sent += 1
            await asyncio.sleep(0.5)
        assert (await s.stats()).runs >= 3
        # Runs end while every flush fails: at most a flush timeout each, never forever.
        assert time.monotonic() - began < 40
        assert pg.server.start() == pg.url

        async def all_written() -> bool:
            return (await s.stats()).rows_written == sent

        await eventually(all_written, within=60)
    rows = await pg.count("SELECT count(*) FROM accounts")
    recorded = await pg.count(f"SELECT count(*) FROM {REQUEST_TABLE}")
    assert (rows, recorded) == (sent, sent)
