"""Inputs that cannot be decoded end their workflow at once with a typed error, never a retry."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from batcher_service.shard.state import BatcherConfig
from main_service.names import PAYMENT_WORKFLOW
from tests.support import faults
from tests.support.harness import Queues, eventually, payment, running_workers
from write_batcher import errors
from write_batcher.contract import BATCHER_WORKFLOW, SUBMIT_SIGNAL, WriteOutcome


def _typed(err: WorkflowFailureError) -> ApplicationError:
    cause = err.cause
    assert isinstance(cause, ApplicationError), cause
    return cause


@pytest.mark.parametrize(
    "raw",
    [
        {"payment_id": "x", "account_id": "a", "amount_cents": float("nan")},
        {"payment_id": "x", "account_id": "a", "amount_cents": 12.5},
        {"payment_id": "x", "account_id": "a"},
        "not a payment",
    ],
    ids=["nan", "fraction", "missing", "string"],
)
async def test_undecodable_payment_fails_at_once(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues, raw: object
) -> None:
    async with running_workers(temporal_env.client, db_pool, queues, BatcherConfig()) as h:
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(
                h.client.execute_workflow(
                    PAYMENT_WORKFLOW, raw, id=f"bad-{queues.prefix}", task_queue=queues.main
                ),
                timeout=15,
            )
    err = _typed(failed.value)
    assert (err.type, err.non_retryable) == (errors.INVALID_INPUT, True)
    # One row for the four inputs: the same answer for each.
    faults.record(
        faults.UNDECODABLE_INPUT,
        None,
        None,
        f"the workflow fails at once: `{err.type}`, non-retryable",
    )


async def test_batcher_refuses_undecodable_input_and_keeps_working(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    client = temporal_env.client
    async with running_workers(client, db_pool, queues, BatcherConfig()) as h:
        # A batcher started with a state it cannot decode fails at once, typed.
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(
                client.execute_workflow(
                    BATCHER_WORKFLOW,
                    {"pending": "nope"},
                    id=f"{queues.prefix}-garbage",
                    task_queue=queues.batcher,
                ),
                timeout=15,
            )
        assert _typed(failed.value).type == errors.INVALID_INPUT
        # A submit signal it cannot decode is dropped; the shard goes on writing.
        await client.start_workflow(
            BATCHER_WORKFLOW,
            id=queues.batcher_id(0),
            task_queue=queues.batcher,
            start_signal=SUBMIT_SIGNAL,
            start_signal_args=[{"requests": [{"request_id": 5}]}],
        )
        handle = await h.start_payment("after-garbage", payment(1))
        result = await asyncio.wait_for(handle.result(), timeout=30)
        assert result.outcome == WriteOutcome.WRITTEN
        assert await eventually(lambda: _one_row(db_pool))


async def _one_row(pool: asyncpg.Pool) -> bool:
    return int(await pool.fetchval("SELECT count(*) FROM ledger_entries")) == 1
