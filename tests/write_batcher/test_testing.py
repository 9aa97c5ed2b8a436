"""write_batcher.testing: a workflow that writes, unit-tested in the time-skipping environment."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.support.processes import popen
from tests.support.write_support import CALLER_WORKFLOWS, SPECS, failure
from tests.support.write_workflows import WriteCall
from write_batcher import WriteBatchingPlugin, WriteOutcome, errors
from write_batcher.testing import Answer, FakeBatcher, Outcomes

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = REPO / "examples" / "orders"
TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"


@pytest.fixture(scope="module")
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(TEST_SERVER))
    yield env
    await env.shutdown()


def test_the_readme_test_passes_as_shown() -> None:
    """The README's "Test it" runs examples/orders/test_order_workflow.py with pytest."""
    # Its test server goes with it on a timeout too: the whole group is stopped.
    with popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_order_workflow.py"],
        cwd=EXAMPLE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as run:
        stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stdout[-3000:] + stderr[-3000:]
    assert "2 passed" in stdout, stdout[-3000:]


async def _write(
    env: WorkflowEnvironment,
    calls: list[WriteCall],
    outcomes: Outcomes | None = None,
    **fake_kwargs: Any,
) -> tuple[list[dict[str, Any] | str], FakeBatcher]:
    """Each call's result, or the ApplicationError type it failed with; the fake's state."""
    tag = uuid.uuid4().hex[:8]
    plugin = WriteBatchingPlugin(batcher_task_queue=f"b-{tag}")
    queue = f"callers-{tag}"
    results: list[dict[str, Any] | str] = []
    client = env.client
    async with (
        Worker(client, task_queue=queue, workflows=CALLER_WORKFLOWS, plugins=[plugin]),
        FakeBatcher(client, SPECS, outcomes, plugin=plugin, **fake_kwargs) as batcher,
    ):
        for n, call in enumerate(calls):
            try:
                results.append(
                    await client.execute_workflow(
                        "WriteOne", call, id=f"{queue}-{n}", task_queue=queue, result_type=dict
                    )
                )
            except WorkflowFailureError as err:
                results.append(failure(err).type or "")
    return results, batcher


def _row(order_id: str, status: str = "placed") -> dict[str, Any]:
    return {"order_id": order_id, "status": status, "total_cents": 1}


async def test_every_row_is_written_by_default_and_the_state_shows_it(
    skipping_env: WorkflowEnvironment,
) -> None:
    calls = [WriteCall("orders", _row(f"o-{i}")) for i in range(4)]
    results, state = await _write(skipping_env, calls)
    assert [r["outcome"] for r in results if isinstance(r, dict)] == ["written"] * 4
    # Every row, each written once, in the order written.
    assert [row["order_id"] for row in state.rows("orders")] == [f"o-{i}" for i in range(4)]
    assert len(state.written) == 4 and state.withdrawn == []
    assert state.attempts == len(state.requests) == 4


async def test_the_fake_validates_as_strictly_as_the_batcher(
    skipping_env: WorkflowEnvironment,
) -> None:
    calls = [
        WriteCall("strict", {"id": "s", "i8": 1.5}),
        WriteCall("no_such_table", {"id": "s"}),
        WriteCall("orders", _row("big", "x" * 200)),
        WriteCall("orders", _row("small")),
    ]
    results, state = await _write(skipping_env, calls, max_row_bytes=200)
    assert results[:3] == [errors.INVALID_WRITE] * 3
    assert results[3]["outcome"] == "written"  # type: ignore[index]
    # An invalid write never reaches the fake's state, and its activity is not retried.
    assert [row["order_id"] for row in state.rows("orders")] == ["small"]
    assert state.attempts == 4 and len(state.requests) == 1


async def test_the_specs_can_be_the_yaml_file_the_batcher_reads(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    spec = tmp_path / "tables.yaml"
    spec.write_text("tables:\n  notes:\n    mode: append\n    columns:\n      text: text\n")
    plugin = WriteBatchingPlugin(batcher_task_queue=f"b-{uuid.uuid4().hex[:8]}")
    async with FakeBatcher(skipping_env.client, spec, plugin=plugin) as fake:
        assert set(fake.tables) == {"notes"}
    async with FakeBatcher(skipping_env.client, str(spec)) as fake:
        assert fake.worker.task_queue == WriteBatchingPlugin().settings.batcher_task_queue


async def test_outcomes_per_table_are_answered_at_once(skipping_env: WorkflowEnvironment) -> None:
    calls = [
        WriteCall("orders", _row("a")),
        WriteCall("order_events", {"order_id": "a", "kind": "x"}),
        WriteCall("strict", {"id": "s"}),
    ]
    outcomes: dict[str, Answer] = {
        "orders": WriteOutcome.KEY_EXISTS,
        "order_events": WriteOutcome.WITHDRAWN,
        "strict": WriteOutcome.REJECTED,
    }
    results, state = await _write(skipping_env, calls, outcomes)
    assert results[0]["outcome"] == "key_exists"  # type: ignore[index]
    assert results[1:] == [errors.WRITE_CONFIRMATION_TIMEOUT, errors.WRITE_REJECTED]
    assert len(state.withdrawn) == 1 and len(state.written) == 1


async def test_outcomes_per_row_and_an_idempotency_key_sent_twice(
    skipping_env: WorkflowEnvironment,
) -> None:
    def by_status(table: str, row: Mapping[str, Any]) -> Answer:
        return WriteOutcome.REJECTED if row.get("status") == "bad" else WriteOutcome.WRITTEN

    keyed = WriteCall("orders", _row("k"), idempotency_key="order-k")
    calls = [WriteCall("orders", _row("b", "bad")), keyed, keyed]
    results, _ = await _write(skipping_env, calls, by_status)
    assert results[0] == errors.WRITE_REJECTED
    assert [r["outcome"] for r in results[1:]] == ["written", "already_written"]  # type: ignore[index]


async def test_outcomes_that_fail_refuse_the_row_with_the_reason(
    skipping_env: WorkflowEnvironment,
) -> None:
    def broken(table: str, row: Mapping[str, Any]) -> Answer:
        raise KeyError("no such rule")

    def wrong(table: str, row: Mapping[str, Any]) -> Answer:
        return "written"  # type: ignore[return-value]

    for outcomes in (broken, wrong):
        results, _ = await _write(skipping_env, [WriteCall("orders", _row("x"))], outcomes)
        assert results == [errors.WRITE_REJECTED]
