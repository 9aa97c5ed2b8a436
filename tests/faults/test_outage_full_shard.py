"""A database outage with a full shard, signals still arriving and continue-as-new due; and
callers' writes dropped while the shard is full, sent again until written.

Reproduces issue 23 item 0: a flush failing while the closing run had other flushes in flight
made the shard's workflow code spin (TMPRL1101 deadlock), and every workflow task of the shard
failed from then on. The shard must instead hand over and write every accepted request once
PostgreSQL is back.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from batcher_service.shard.state import BatcherConfig
from loadtest.verify import Verification
from tests.support import faults
from tests.support.batcher_support import shard
from tests.support.harness import eventually
from tests.support.outage import StoppablePostgres, back_until_written
from write_batcher import WriteResult, errors
from write_batcher.contract import WriteOutcome, WriteRequest

# Each request is ~370 bytes as the buffer measures it: a few make a batch "too big to carry".
NOTE = "n" * 60


def request(index: int) -> WriteRequest:
    row = {"account_id": f"full-{index:05d}", "balance": index, "note": NOTE}
    return WriteRequest(f"full-{index}", "accounts", "nobody", f"full-{index:05d}", row)


@pytest.mark.parametrize(
    ("mode", "signals_per_run"), [("adaptive", 12), ("fixed", 12), ("fixed", 10_000)]
)
async def test_a_full_shard_survives_an_outage(
    mode: str,
    signals_per_run: int,
    temporal_env: WorkflowEnvironment,
    pg: StoppablePostgres,
) -> None:
    # Adaptive: flushes start a second apart and fail after six; the first failure of a
    # closing run holds the shard back half a second, and signals arriving after that, with
    # two flushes still in flight, made the closing run spin. Fixed, in one long run: a buffer
    # past the batch size while flushes were held back after a failure made the main loop spin.
    config = BatcherConfig(
        mode=mode,
        max_wait_seconds=1.0,
        flush_timeout_seconds=6.0,
        max_inflight_flushes=3,
        max_batch_bytes=4_000,
        max_pending=300,
        max_signals_per_run=signals_per_run,
        min_interval_seconds=1.0,
        max_interval_seconds=1.0,
    )
    async with shard(temporal_env.client, pg.pool, config) as s:
        pg.server.stop()
        began = time.monotonic()
        sent = 0
        # Signals keep arriving while the runs close with flushes failing one after another.
        while time.monotonic() - began < 25:
            await s.signal(*(request(sent + i) for i in range(20)))
            sent += 20
            await asyncio.sleep(0.25)
        stats = await asyncio.wait_for(s.stats(), 10)
        accepted = sent - stats.overloaded_rejections - stats.duplicates_dropped
        assert stats.flushes_failed >= 2, stats
        assert stats.runs >= 2 or signals_per_run > stats.signals_this_run, stats
        assert stats.overloaded_rejections > 0, "the shard never reached its cap"
        final = await back_until_written(pg, s, accepted, within=60)
    rows, distinct, recorded = await pg.accounts_written()
    assert final.rows_written == accepted, (final, accepted)
    assert (rows, distinct, recorded) == (accepted, accepted, accepted)
    if (mode, signals_per_run) == ("adaptive", 12):
        faults.record(
            faults.PG_DOWN_CONTINUE_AS_NEW,
            accepted,
            Verification(accepted, rows, accepted - distinct, rows - distinct, 0, 0),
            f"{final.runs} runs handed over while {stats.flushes_failed} flushes failed; "
            f"{stats.overloaded_rejections} refused at the cap; every accepted write written "
            "once it was back",
        )


async def test_a_dropped_write_fails_its_attempt_and_is_sent_again_until_written(
    temporal_env: WorkflowEnvironment,
    pg: StoppablePostgres,
) -> None:
    """A full shard drops a caller's write: the shard fails that caller's write activity,
    retryable (BatcherOverloaded), the caller's retry policy sends it again, and once there is
    room every write lands exactly once."""
    config = BatcherConfig(
        mode="fixed", max_wait_seconds=0.2, flush_timeout_seconds=3.0, max_pending=5
    )
    async with shard(temporal_env.client, pg.pool, config) as s:
        pg.server.stop()
        rows = [{"account_id": f"over-{i:02d}", "balance": i} for i in range(20)]
        ids = [f"over-{i}" for i in range(20)]
        writes = [
            asyncio.create_task(s.write("accounts", row, workflow_id=wid))
            for row, wid in zip(rows, ids, strict=True)
        ]

        async def dropped() -> bool:
            try:
                return (await s.stats()).overloaded_rejections >= 10
            except RPCError:  # the shard is not started yet
                return False

        await eventually(dropped, within=30)
        assert pg.server.start() == pg.url
        results = await asyncio.wait_for(asyncio.gather(*writes), 90)
        assert all(isinstance(r, WriteResult) for r in results), results
        assert {r.outcome for r in results if isinstance(r, WriteResult)} == {WriteOutcome.WRITTEN}
        # A dropped write's attempt was failed with BatcherOverloaded, and it ran again.
        retried = 0
        for wid in ids:
            history = await s.client.get_workflow_handle(wid).fetch_history()
            for event in history.events:
                if event.HasField("activity_task_started_event_attributes"):
                    started = event.activity_task_started_event_attributes
                    if started.attempt > 1:
                        retried += 1
                        failure = started.last_failure.application_failure_info
                        assert failure.type == errors.BATCHER_OVERLOADED, started.last_failure
        assert retried >= 10, retried
    count, distinct, recorded = await pg.accounts_written()
    assert (count, distinct, recorded) == (20, 20, 20)
    faults.record(
        faults.SHARD_AT_CAP,
        20,
        Verification(20, count, 20 - distinct, count - distinct, 0, 0),
        f"{retried} dropped writes' attempts failed `BatcherOverloaded` and ran again; all 20 "
        "`written` once PostgreSQL was back",
    )


async def test_a_shard_held_at_its_cap_backs_its_senders_off_with_jitter(
    temporal_env: WorkflowEnvironment,
    pg: StoppablePostgres,
) -> None:
    """Held at its cap by an outage, a shard refuses with a delay to wait (the time it needs
    for room, doubling with each of the sender's attempts, jittered), so its senders come back
    spread out and ever more slowly: no resend storm, and every write lands once after."""
    config = BatcherConfig(
        mode="fixed", max_wait_seconds=0.2, flush_timeout_seconds=3.0, max_pending=5
    )
    writes_n, hold = 40, 25.0
    async with shard(temporal_env.client, pg.pool, config, ack_timeout_seconds=180) as s:
        pg.server.stop()
        ids = [f"held-{i}" for i in range(writes_n)]
        writes = [
            asyncio.create_task(
                s.write("accounts", {"account_id": f"held-{i:02d}", "balance": i}, workflow_id=w)
            )
            for i, w in enumerate(ids)
        ]
        await asyncio.sleep(hold)
        refused = (await s.stats()).overloaded_rejections
        assert pg.server.start() == pg.url
        results = await asyncio.wait_for(asyncio.gather(*writes), 150)
        assert {r.outcome for r in results if isinstance(r, WriteResult)} == {
            WriteOutcome.WRITTEN
        }, results
        delays: list[float] = []
        for wid in ids:
            history = await s.client.get_workflow_handle(wid).fetch_history()
            for event in history.events:
                if event.HasField("activity_task_started_event_attributes"):
                    started = event.activity_task_started_event_attributes
                    failure = started.last_failure
                    # The last attempt's cause: a refusal, or (one of the few accepted while
                    # the database was down) an attempt that outlived its 30 s bound.
                    if started.attempt > 1 and failure.HasField("application_failure_info"):
                        info = failure.application_failure_info
                        assert info.type == errors.BATCHER_OVERLOADED, failure
                        delays.append(info.next_retry_delay.ToTimedelta().total_seconds())
    dropped = writes_n - config.max_pending
    # Told to wait at least 1 s, doubled per attempt (attempts at 0, >=1, >=3, >=7, >=15 s),
    # a dropped write is refused at most 5 times in 25 s, fewer when the shard's own delay or
    # the jitter is longer; without the delay (the caller's policy alone: 1, 2, 4, 8, 10 s)
    # it would be 6 times. Load only makes the waits longer.
    assert refused <= dropped * 5, (refused, dropped)
    assert len(delays) >= dropped // 2, delays
    assert min(delays) >= 1.0, delays
    # Jittered: no two refused senders were told the same time to come back.
    assert len({round(d, 3) for d in delays}) > len(delays) * 0.9, delays
    count = await pg.count("SELECT count(*) FROM accounts")
    distinct = await pg.count("SELECT count(DISTINCT account_id) FROM accounts")
    assert (count, distinct) == (writes_n, writes_n)
    faults.record(
        faults.SHARD_AT_CAP_BACKOFF,
        writes_n,
        Verification(writes_n, count, writes_n - distinct, count - distinct, 0, 0),
        f"{refused} refusals for the {dropped} dropped ({refused / dropped:.1f} each), each "
        f"told to wait {min(delays):.1f}-{max(delays):.1f} s, jittered; all `written` after",
    )
