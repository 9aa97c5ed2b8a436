"""The caller library end to end on a real dev server, against a tiny batcher workflow."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from tests.write_support import failure, rig, write_env
from tests.write_workflows import WriteCall
from write_batcher import errors
from write_batcher.contract import WriteOutcome

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


async def test_two_tables_at_once_and_concurrent_callers_share_signals(
    write_env: WorkflowEnvironment,
) -> None:
    async with rig(write_env.client, submit_linger_seconds=0.3) as r:
        results = await asyncio.gather(*(r.run("WriteOrder", f"o-{i}") for i in range(40)))
        state = r.fake_state()
    outcomes = {
        res["outcome"] if isinstance(res, dict) else res.outcome for rs in results for res in rs
    }
    assert outcomes == {WriteOutcome.WRITTEN}
    assert len(state.requests) == 80
    assert len({q.request_id for q in state.requests}) == 80
    assert state.signals <= 80 // 4, state.signals


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
    ],
)
async def test_invalid_rows_fail_at_once_with_invalid_write(
    write_env: WorkflowEnvironment, table: str, row: dict[str, object]
) -> None:
    async with rig(write_env.client) as r:
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(r.run("WriteOne", WriteCall(table, row)), timeout=10)
    assert failure(failed.value).type == errors.INVALID_WRITE


async def test_a_write_the_batcher_dropped_is_sent_again_after_a_backoff(
    write_env: WorkflowEnvironment,
) -> None:
    async with rig(write_env.client) as r:
        result = await r.run("WriteOne", WriteCall("overloaded", {"id": "a", "n": 1}))
        state = r.fake_state()
    assert result["outcome"] == WriteOutcome.WRITTEN
    assert len(state.requests) == 2  # dropped once (full), sent again once


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


async def test_unreachable_batcher_gives_outcome_unknown_with_the_lookup(
    write_env: WorkflowEnvironment,
) -> None:
    # No batcher worker at all: the submit's signal lands, nobody answers the withdraw.
    async with rig(
        write_env.client, fake_batcher=False, ack_timeout_seconds=1.0, withdraw_retry_seconds=2.0
    ) as r:
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(
                r.run(
                    "WriteOne",
                    WriteCall("orders", {"order_id": "u", "status": "s", "total_cents": 1}),
                ),
                timeout=30,
            )
    err = failure(failed.value)
    assert err.type == errors.WRITE_OUTCOME_UNKNOWN and err.non_retryable
    request_id, batcher_id = err.details
    assert batcher_id == r.batcher_id()
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
