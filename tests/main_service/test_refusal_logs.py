"""Typed refusals are one log line each in the caller worker's log, no traceback: real processes."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from devstack.stack import Stack
from main_service.names import INVALID_PAYMENT, MAIN_TASK_QUEUE, PAYMENT_DECLINED, PAYMENT_WORKFLOW
from main_service.payments import PaymentRequest
from tests.conftest import scratch_database
from tests.support.harness import payment
from tests.support.promql import until_ready
from write_batcher import errors

pytestmark = pytest.mark.timeout(300)


@dataclass
class Logs:
    main: str
    batcher: str
    refused: dict[str, str]  # workflow id -> the failure type its payment ended with


async def _refused(client: Client, workflow_id: str, request: PaymentRequest) -> str:
    with pytest.raises(WorkflowFailureError) as failed:
        await client.execute_workflow(
            PAYMENT_WORKFLOW, request, id=workflow_id, task_queue=MAIN_TASK_QUEUE
        )
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause.type or ""


@pytest.fixture(scope="module")
async def logs(
    temporal_env: WorkflowEnvironment, pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Logs]:
    """Both workers as processes at LOG_LEVEL=INFO; each kind of refusal once."""
    address = temporal_env.client.service_client.config.target_host
    workdir = tmp_path_factory.mktemp("refusal-logs")
    async with scratch_database(pg_server_url, "wb_refusals") as url:
        stack = Stack(
            workdir / "stack", database_url=url, temporal_address=address, persist_temporal=False
        )
        try:
            stack.start()
            # Every write's deadline (3 s) passes long before its batch could flush (600 s),
            # however late the write reaches its shard under load.
            main = stack.start_worker("main_service", LOG_LEVEL="INFO", ACK_TIMEOUT_SECONDS="3")
            batcher = stack.start_worker(
                "batcher_service",
                LOG_LEVEL="INFO",
                # Shards of its own: the session's dev server holds earlier tests' default
                # shards, which remember the same payments' request ids as written.
                BATCHER_ID_PREFIX=f"refusals-{uuid.uuid4().hex[:8]}",
                BATCH_MODE="fixed",
                BATCH_MAX_SIZE="1000",
                BATCH_MAX_WAIT_SECONDS="600",
            )
            # Both polling first: a write's deadline does not run while its worker starts.
            for worker in (main, batcher):
                await until_ready(int(worker.env["METRICS_PORT"]))
            client = await Client.connect(address)
            cases = {
                "refused-invalid-write": payment(1, memo="m" * 201),
                "refused-declined": payment(2, amount_cents=200_000_000),
                "refused-invalid-payment": payment(3, amount_cents=-5),
                "refused-timeout": payment(4),
            }
            refused = dict(
                zip(
                    cases,
                    await asyncio.gather(*(_refused(client, w, p) for w, p in cases.items())),
                    strict=True,
                )
            )
            await asyncio.sleep(1)  # the last lines reach the logs
            yield Logs(main.log_path.read_text(), batcher.log_path.read_text(), refused)
        finally:
            stack.stop()


def test_each_refusal_is_its_own_type(logs: Logs) -> None:
    assert logs.refused == {
        "refused-invalid-write": errors.INVALID_WRITE,
        "refused-declined": PAYMENT_DECLINED,
        "refused-invalid-payment": INVALID_PAYMENT,
        "refused-timeout": errors.WRITE_CONFIRMATION_TIMEOUT,
    }


def test_the_caller_worker_logs_one_line_per_refusal_and_no_traceback(logs: Logs) -> None:
    assert "Traceback" not in logs.main
    assert "Completing activity as failed" not in logs.main
    for workflow_id in logs.refused:
        lines = [line for line in logs.main.splitlines() if workflow_id in line]
        assert len(lines) == 1, (workflow_id, lines)
        assert re.search(r"\b(INFO|WARNING)\b", lines[0]), lines[0]


def test_the_batcher_worker_logs_its_refusals_without_traceback(logs: Logs) -> None:
    assert "Traceback" not in logs.batcher
