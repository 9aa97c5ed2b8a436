"""PostgreSQL down, a shard filled with rows of MAX_ROW_BYTES until it refuses, runs handing
over again and again: each continue-as-new input, read back from the real history, is under
1 MiB; no run is terminated; once PostgreSQL is back every accepted write is written once."""

from __future__ import annotations

import asyncio
import json
import time

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from batcher_service.shard.carry import CARRY_LIMIT
from batcher_service.shard.state import BatcherConfig
from loadtest.verify import Verification
from tests.support import faults
from tests.support.batcher_support import shard
from tests.support.faults import record
from tests.support.outage import StoppablePostgres, back_until_written
from write_batcher.contract import WriteRequest
from write_batcher.testing import DEFAULT_MAX_ROW_BYTES

RUNS = 4


def request(index: int) -> WriteRequest:
    """A row of MAX_ROW_BYTES (UTF-8 JSON, as the intake measures it); every other one of
    characters JSON escapes, so its encoded size is twice that. Long ids, a caller to answer."""
    account = f"carry-{index:05d}-" + "a" * 52
    fill = '"' if index % 2 else "n"
    row = {"account_id": account, "balance": index, "note": ""}
    room = DEFAULT_MAX_ROW_BYTES - len(json.dumps(row, separators=(",", ":")))
    row["note"] = fill * (room // len(json.dumps(fill)[1:-1]))
    rid = f"carry-{index}-" + "r" * 100
    return WriteRequest(rid, "accounts", "c" * 120, account, row, "run-" + "x" * 32, "1")


async def continue_as_new_inputs(
    client: Client, workflow_id: str
) -> tuple[list[int], WorkflowExecutionStatus | None]:
    """Each earlier run's continue-as-new input (bytes, newest first), walking back from the
    current run, and the current run's status."""
    described = await client.get_workflow_handle(workflow_id).describe()
    sizes: list[int] = []
    run_id: str | None = described.run_id
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        if run_id != described.run_id:
            # An earlier run: it ended in continue-as-new, never terminated or failed.
            last = history.events[-1]
            assert last.HasField("workflow_execution_continued_as_new_event_attributes"), last
            sizes.append(last.workflow_execution_continued_as_new_event_attributes.input.ByteSize())
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id or None
    return sizes, described.status


async def test_continue_as_new_input_stays_under_1_mib_through_an_outage(
    temporal_env: WorkflowEnvironment,
    pg: StoppablePostgres,
) -> None:
    config = BatcherConfig(
        mode="fixed",
        max_wait_seconds=0.5,
        flush_timeout_seconds=3.0,
        max_signals_per_run=4,
        max_inflight_flushes=3,
        max_batch_size=10,
    )
    async with shard(temporal_env.client, pg.pool, config) as s:
        pg.server.stop()
        began = time.monotonic()
        sent = 0
        # Until the shard refuses, then on: every few signals a run hands over.
        while time.monotonic() - began < 90:
            await s.signal(*(request(sent + i) for i in range(4)))
            sent += 4
            stats = await asyncio.wait_for(s.stats(), 20)
            if stats.overloaded_rejections > 0 and stats.runs > RUNS:
                break
            await asyncio.sleep(0.3)
        stats = await asyncio.wait_for(s.stats(), 20)
        assert stats.overloaded_rejections > 0, "the shard never reached its cap"
        assert stats.runs > RUNS and stats.flushes_failed >= 1, stats
        accepted = sent - stats.overloaded_rejections - stats.duplicates_dropped
        sizes, status = await continue_as_new_inputs(s.client, s.batcher_id)
        print(f"accepted {accepted} of {sent}; continue-as-new inputs (bytes): {sizes}")
        assert len(sizes) >= RUNS and status is WorkflowExecutionStatus.RUNNING, status
        assert max(sizes) < CARRY_LIMIT, sizes
        # The buffer really was at its cap when handed over (of rows twice their size or so).
        assert max(sizes) > CARRY_LIMIT // 3, sizes
        final = await back_until_written(pg, s, accepted, within=90)
    rows, distinct, recorded = await pg.accounts_written()
    assert final.rows_written == accepted, (final, accepted)
    assert (rows, distinct, recorded) == (accepted, accepted, accepted)
    record(
        faults.CARRY_AT_ITS_BOUND,
        accepted,
        Verification(accepted, rows, accepted - rows, recorded - rows, 0, 0),
        f"{len(sizes)} hand-overs, largest continue-as-new input {max(sizes):,} bytes (limit "
        f"1 MiB); every accepted write written once after",
    )
