"""WriteBatchingPlugin passes write_batcher through the workflow sandbox, the SDK's way, and
registers no activity: a write runs on the batcher's task queue."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkerConfig
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import write_batcher
from tests.support.plain_import_workflows import Imported, PlainImportProbe, PlainImportWrite
from tests.support.write_support import SPECS, write_env
from write_batcher import WriteBatchingPlugin, WriteOutcome, WriteSettings
from write_batcher._settings import settings_for
from write_batcher.testing import FakeBatcher

__all__ = ["write_env"]


def _plugin() -> WriteBatchingPlugin:
    tag = uuid.uuid4().hex[:8]
    return WriteBatchingPlugin(batcher_task_queue=f"batcher-{tag}")


async def _probe(client: Client, plugins: list[WriteBatchingPlugin]) -> int:
    queue = f"probe-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[PlainImportProbe], plugins=plugins):
        library_id: int = await client.execute_workflow(
            PlainImportProbe.run, id=queue, task_queue=queue
        )
    return library_id


async def test_a_workflow_importing_the_library_at_top_level_writes_under_the_plugin(
    write_env: WorkflowEnvironment,
) -> None:
    client = write_env.client
    plugin = _plugin()
    queue = f"callers-{uuid.uuid4().hex[:8]}"
    async with (
        Worker(client, task_queue=queue, workflows=[PlainImportWrite], plugins=[plugin]),
        FakeBatcher(client, SPECS, plugin=plugin),
    ):
        imported = await client.execute_workflow(
            PlainImportWrite.run, "o-1", id=queue, task_queue=queue
        )
    assert isinstance(imported, Imported)
    assert imported.result.outcome == WriteOutcome.WRITTEN
    # The workflow ran with the worker's own library, not a copy imported into its sandbox.
    assert imported.library_id == id(write_batcher)


async def test_without_the_plugin_the_sandbox_imports_its_own_copy(
    write_env: WorkflowEnvironment,
) -> None:
    """The passthrough is the plugin's doing: a plain worker's sandbox re-imports the library."""
    assert await _probe(write_env.client, []) != id(write_batcher)
    assert await _probe(write_env.client, [_plugin()]) == id(write_batcher)


@pytest.mark.parametrize(
    "runner",
    [
        SandboxedWorkflowRunner(),
        SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules("json")
        ),
        UnsandboxedWorkflowRunner(),
    ],
    ids=["default-sandbox", "own-sandbox", "unsandboxed"],
)
async def test_the_plugin_adds_the_library_to_the_runner_the_worker_has(
    write_env: WorkflowEnvironment, runner: SandboxedWorkflowRunner | UnsandboxedWorkflowRunner
) -> None:
    config = _plugin().configure_worker(
        WorkerConfig(client=write_env.client, task_queue="q", workflow_runner=runner)
    )
    active = config["workflow_runner"]
    if isinstance(runner, SandboxedWorkflowRunner):
        assert isinstance(active, SandboxedWorkflowRunner)
        passed = active.restrictions.passthrough_modules
        assert "write_batcher" in passed
        assert runner.restrictions.passthrough_modules <= passed
    else:
        assert active is runner


async def test_the_plugin_registers_no_activity_and_its_settings_for_the_workers_queue(
    write_env: WorkflowEnvironment,
) -> None:
    plugin = WriteBatchingPlugin(ack_timeout_seconds=7, batcher_task_queue="their-batcher")
    queue = f"callers-{uuid.uuid4().hex[:8]}"
    config = plugin.configure_worker(WorkerConfig(client=write_env.client, task_queue=queue))
    assert not config.get("activities")
    assert settings_for(queue) == WriteSettings(7, "their-batcher")
    # A queue no plugin configured (a Replayer's, say) gets the defaults.
    assert settings_for(f"other-{queue}") == WriteSettings()
