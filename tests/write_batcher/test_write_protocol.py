"""The caller library end to end on a real dev server, against the fake batcher's activities.

A write is an activity on the batcher's task queue (``write_batcher.testing.FakeBatcher`` runs
it here, validating as the batcher service does); deadlines, retries and withdrawals are the
real library's.
"""

from __future__ import annotations

import asyncio

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.support.harness import eventually
from tests.support.write_support import failure, rig, write_env
from tests.support.write_workflows import WriteCall
from write_batcher import errors
from write_batcher.contract import (
    WITHDRAW_ACTIVITY,
    WRITE_ACTIVITY,
    WriteAck,
    WriteInput,
    WriteOutcome,
)

__all__ = ["write_env"]


async def test_a_write_is_acked_with_its_outcome_and_batch(write_env: WorkflowEnvironment) -> None:
    async with rig(write_env.client) as r:
        row = {"order_id": "o-1", "status": "placed", "total_cents": 5}
        result = await r.run("WriteOne", WriteCall("orders", row), id="one-1")
        assert result["outcome"] == WriteOutcome.WRITTEN
        assert result["request_id"].startswith("one-1/")
        assert result["batch_id"] == "batch-0"
        state = r.fake_state()
    assert state.requests[0].row == row
    assert state.requests[0].table == "orders"
    # Keyed table: the partition key is the table and the conflict key.
    assert state.requests[0].partition_key == '["orders","o-1"]'
    assert state.requests[0].request_id.startswith("one-1/")


async def test_two_tables_at_once_and_concurrent_callers_each_write_once(
    write_env: WorkflowEnvironment,
) -> None:
    async with rig(write_env.client) as r:
        results = await asyncio.gather(*(r.run("WriteOrder", f"o-{i}") for i in range(40)))
        state = r.fake_state()
    outcomes = {
        res["outcome"] if isinstance(res, dict) else res.outcome for rs in results for res in rs
    }
    assert outcomes == {WriteOutcome.WRITTEN}
    # Each of the 80 writes written once. How many attempts that took is load's business: a
    # resent copy (an attempt timed out on a busy machine) is answered, never written again.
    assert len({q.request_id for q in state.requests}) == 80
    assert sorted(state.written) == sorted({q.request_id for q in state.requests})


async def test_refused_row_raises_write_rejected_with_the_ack(
    write_env: WorkflowEnvironment,
) -> None:
    async with rig(write_env.client) as r:
        with pytest.raises(WorkflowFailureError) as failed:
            await r.run("WriteOne", WriteCall("refused", {"id": "a", "n": 1}))
    err = failure(failed.value)
    assert err.type == errors.WRITE_REJECTED and err.non_retryable
    assert err.details[0]["error_type"] == errors.ROW_REFUSED


@pytest.mark.parametrize(
    ("table", "row"),
    [
        ("strict", {"id": "x", "i8": 12.5}),
        ("strict", {"id": "x", "i8": True}),
        ("strict", {"id": "x", "i8": 2**63}),
        ("strict", {"id": "x", "t": "a\x00b"}),
        ("strict", {"id": "x", "t": "y" * 65}),
        ("strict", {"id": "x", "nope": 1}),
        ("no_such_table", {"id": "x"}),
        # Over the batcher's row size limit (MAX_ROW_BYTES, 16 KiB by default).
        ("orders", {"order_id": "x", "status": "y" * 17_000, "total_cents": 1}),
    ],
)
async def test_invalid_rows_fail_at_once_with_invalid_write(
    write_env: WorkflowEnvironment, table: str, row: dict[str, object]
) -> None:
    async with rig(write_env.client) as r:
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(r.run("WriteOne", WriteCall(table, row)), timeout=10)
        state = r.fake_state()
    err = failure(failed.value)
    assert err.type == errors.INVALID_WRITE and err.non_retryable, err.message
    # Refused by the batcher's validation, once: the activity is not retried.
    assert (state.attempts, state.requests) == (1, [])


async def test_an_empty_partition_key_is_an_invalid_write(write_env: WorkflowEnvironment) -> None:
    call = WriteCall("strict", {"id": "x"}, partition_key="")
    async with rig(write_env.client) as r:
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(r.run("WriteOne", call), timeout=10)
    assert failure(failed.value).type == errors.INVALID_WRITE


async def test_a_write_the_batcher_dropped_is_retried_by_its_activity(
    write_env: WorkflowEnvironment,
) -> None:
    async with rig(write_env.client) as r:
        result = await r.run("WriteOne", WriteCall("overloaded", {"id": "a", "n": 1}))
        state = r.fake_state()
    assert result["outcome"] == WriteOutcome.WRITTEN
    # Dropped once (a full shard fails the attempt, retryable), written by the next attempt.
    assert (state.attempts, len(state.requests)) == (2, 2)
    assert state.written == [state.requests[0].request_id]


async def test_deadline_withdraws_the_write_and_raises_confirmation_timeout(
    write_env: WorkflowEnvironment,
) -> None:
    async with rig(write_env.client, ack_timeout_seconds=1.0) as r:
        with pytest.raises(WorkflowFailureError) as failed:
            await r.run("WriteOne", WriteCall("silent", {"id": "a", "n": 1}))
        state = r.fake_state()
    err = failure(failed.value)
    assert err.type == errors.WRITE_CONFIRMATION_TIMEOUT, err.message
    assert state.withdrawn == [state.requests[0].request_id]
    assert state.written == []


async def test_deadline_on_a_write_that_was_written_returns_success(
    write_env: WorkflowEnvironment,
) -> None:
    async with rig(write_env.client, ack_timeout_seconds=1.0) as r:
        result = await r.run("WriteOne", WriteCall("late", {"id": "a", "n": 1}))
    assert result["outcome"] == WriteOutcome.WRITTEN


@pytest.mark.parametrize(
    ("table", "settled"), [("silent", WriteOutcome.WITHDRAWN), ("late", WriteOutcome.WRITTEN)]
)
async def test_a_workflow_cancelled_while_its_write_waits_settles_the_write_first(
    write_env: WorkflowEnvironment, table: str, settled: WriteOutcome
) -> None:
    """While its write waits, the workflow takes cancellation: the write is withdrawn (or found
    written) before the cancellation goes on; it is never written silently afterwards."""
    async with rig(write_env.client, ack_timeout_seconds=600) as r:
        handle = await r.start("WriteOne", WriteCall(table, {"id": "c", "n": 1}))
        state = r.fake_state()

        async def reached() -> bool:
            return len(state.requests) == 1

        await eventually(reached, within=10)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), timeout=15)
    assert isinstance(failed.value.cause, CancelledError), failed.value.cause
    rid = state.requests[0].request_id
    if settled is WriteOutcome.WITHDRAWN:
        assert (state.withdrawn, state.written) == ([rid], [])
    else:
        assert (state.withdrawn, state.written) == ([], [rid])


@activity.defn(name=WRITE_ACTIVITY)
async def _never_answered(write: WriteInput) -> WriteAck:
    activity.raise_complete_async()


@activity.defn(name=WITHDRAW_ACTIVITY)
async def _shard_out_of_reach(write: WriteInput) -> WriteAck:
    raise ApplicationError("the shard cannot be reached", non_retryable=True)


async def test_a_batcher_that_cannot_settle_the_write_gives_outcome_unknown_with_the_lookup(
    write_env: WorkflowEnvironment,
) -> None:
    # The write is never answered; at its deadline the withdrawal fails too (for good here; in
    # production after its own 60 s timeout): nobody can say what became of the write.
    async with (
        rig(write_env.client, fake_batcher=False, ack_timeout_seconds=1.0) as r,
        Worker(
            write_env.client,
            task_queue=r.batcher_queue,
            activities=[_never_answered, _shard_out_of_reach],
        ),
    ):
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(
                r.run(
                    "WriteOne",
                    WriteCall("orders", {"order_id": "u", "status": "s", "total_cents": 1}),
                ),
                timeout=20,
            )
    err = failure(failed.value)
    assert err.type == errors.WRITE_OUTCOME_UNKNOWN and err.non_retryable
    [request_id] = err.details
    assert f"batcher_service requests lookup {request_id}" in err.message


async def test_a_new_run_writes_again_but_an_idempotency_key_is_one_write(
    write_env: WorkflowEnvironment,
) -> None:
    async with rig(write_env.client) as r:
        runs = await r.run("WriteAndContinue", 3, [], id="can-1")
        keyed = WriteCall("strict", {"id": "k"}, idempotency_key="pay-7")
        first = await r.run("WriteOne", keyed)
        second = await r.run("WriteOne", keyed)
    assert [x["outcome"] for x in runs] == [WriteOutcome.WRITTEN] * 3
    assert len({x["request_id"] for x in runs}) == 3
    assert first["request_id"] == second["request_id"] == "strict:pay-7"
    assert (first["outcome"], second["outcome"]) == (
        WriteOutcome.WRITTEN,
        WriteOutcome.ALREADY_WRITTEN,
    )


@pytest.mark.parametrize(
    "payment",
    [
        {"payment_id": "p", "amount_cents": 12.5},
        {"payment_id": "p", "amount_cents": float("nan")},
        {"payment_id": "p", "amount_cents": True},
        {"payment_id": "p"},
        {"payment_id": 7, "amount_cents": 1},
    ],
)
async def test_undecodable_workflow_input_fails_the_workflow_at_once(
    write_env: WorkflowEnvironment, payment: dict[str, object]
) -> None:
    async with rig(write_env.client) as r:
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(r.run("TypedPayment", payment), timeout=10)
        assert await r.run("TypedPayment", {"payment_id": "p", "amount_cents": 12}) == 12
    err = failure(failed.value)
    assert err.type == errors.INVALID_INPUT and err.non_retryable
