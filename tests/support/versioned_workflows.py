"""A version 2 of the batcher workflow for the upgrade test (alone: the sandbox imports it)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from batcher_service.shard.state import BatcherState, BatcherStats
    from batcher_service.shard.workflow import WriteBatcherWorkflow
    from write_batcher import contract

# Version 2's extra commands: a patch marker and a timer at the start of each run it begins.
V2_PATCH = "upgrade-test-v2-timer"


@workflow.defn(name=contract.BATCHER_WORKFLOW)
class WriteBatcherWorkflowV2(WriteBatcherWorkflow):
    """The batcher workflow as a version 2 that issues different commands, patched as
    docs/operations.md says: a run begun on version 1 replays on it without the timer."""

    @workflow.run
    async def run(self, state: BatcherState | None = None) -> BatcherStats:
        if workflow.patched(V2_PATCH):
            await workflow.sleep(timedelta(milliseconds=1))
        return await super().run(state)
