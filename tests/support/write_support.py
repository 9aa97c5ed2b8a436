"""Fixtures for the caller library's tests: a dev server, table specs, workers with the plugin."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.support.write_workflows import TypedPayment, WriteAndContinue, WriteOne, WriteOrder
from write_batcher import TableSpec, WriteBatchingPlugin, WriteOutcome, table_specs_from_dict
from write_batcher.testing import Answer, FakeBatcher, Unacked

_KEYED = {"columns": {"id": "text", "n": "int8"}, "key": ["id"]}
SPECS: dict[str, TableSpec] = table_specs_from_dict(
    {
        "tables": {
            "orders": {
                "mode": "upsert",
                "key": ["order_id"],
                "columns": {"order_id": "text", "status": "text", "total_cents": "int8"},
            },
            "order_events": {
                "mode": "append",
                "columns": {"order_id": "text", "kind": "text"},
            },
            "strict": {
                "key": ["id"],
                "columns": {
                    "id": "text",
                    "i8": {"type": "int8", "nullable": True},
                    "f8": {"type": "float8", "nullable": True},
                    "t": {"type": "text", "nullable": True, "max_length": 64},
                    "b": {"type": "bool", "nullable": True},
                },
            },
            "overloaded": _KEYED,
            "refused": _KEYED,
            "silent": _KEYED,
            "late": _KEYED,
        }
    }
)
CALLER_WORKFLOWS = [WriteOne, WriteOrder, WriteAndContinue, TypedPayment]
# How the fake batcher answers the tables above that are named for it; the others are written.
FAKE_OUTCOMES: dict[str, Answer] = {
    "refused": WriteOutcome.REJECTED,
    "overloaded": Unacked.DROPPED_ONCE,
    "silent": Unacked.UNTIL_DEADLINE,
    "late": Unacked.WRITTEN_AT_DEADLINE,
}


@pytest.fixture(scope="session")
async def write_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal")
    )
    yield env
    await env.shutdown()


@dataclass
class Rig:
    client: Client
    caller_queue: str
    batcher_queue: str
    fake: FakeBatcher | None = None

    def fake_state(self) -> FakeBatcher:
        """The fake batcher: what reached it and what it answered."""
        assert self.fake is not None, "this rig has no fake batcher"
        return self.fake

    async def start(
        self, workflow: str, *args: Any, id: str | None = None
    ) -> WorkflowHandle[Any, Any]:
        return await self.client.start_workflow(
            workflow,
            args=list(args),
            id=id or f"{workflow}-{uuid.uuid4().hex[:8]}",
            task_queue=self.caller_queue,
        )

    async def run(self, workflow: str, *args: Any, id: str | None = None) -> Any:
        return await (await self.start(workflow, *args, id=id)).result()


@asynccontextmanager
async def rig(
    client: Client, *, fake_batcher: bool = True, **plugin_kwargs: Any
) -> AsyncIterator[Rig]:
    """A caller worker wired by the plugin, and (unless told not to) the fake batcher, which
    validates each row against SPECS as the batcher service does."""
    tag = uuid.uuid4().hex[:8]
    batcher_queue = f"batcher-{tag}"
    plugin = WriteBatchingPlugin(batcher_task_queue=batcher_queue, **plugin_kwargs)
    r = Rig(client, f"callers-{tag}", batcher_queue)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(
            Worker(client, task_queue=r.caller_queue, workflows=CALLER_WORKFLOWS, plugins=[plugin])
        )
        if fake_batcher:
            r.fake = await stack.enter_async_context(
                FakeBatcher(client, SPECS, FAKE_OUTCOMES, plugin=plugin)
            )
        yield r


def failure(err: WorkflowFailureError) -> ApplicationError:
    cause = err.cause
    assert isinstance(cause, ApplicationError), cause
    return cause
