"""Worker Versioning in tests: a version 2 of the batcher workflow, deployments, histories."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client
from temporalio.plugin import SimplePlugin
from temporalio.service import RPCError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    WorkerConfig,
)

from batcher_service.shard.workflow import WriteBatcherWorkflow
from tests.support.harness import eventually
from tests.support.versioned_workflows import WriteBatcherWorkflowV2


class BatcherVersion2(SimplePlugin):
    """Puts version 2 in place of the batcher workflow on the worker it is given to."""

    def __init__(self) -> None:
        super().__init__("upgrade-test.batcher-v2")

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        config = super().configure_worker(config)
        config["workflows"] = [
            WriteBatcherWorkflowV2 if w is WriteBatcherWorkflow else w
            for w in config.get("workflows") or []
        ]
        return config


@dataclasses.dataclass
class ActivityCount(Interceptor):
    """Counts the activities a worker runs, by type."""

    counts: Counter[str] = dataclasses.field(default_factory=Counter)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        counts = self.counts

        class _Counting(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput) -> Any:
                counts[activity.info().activity_type] += 1
                return await self.next.execute_activity(input)

        return _Counting(next)


async def set_current_version(client: Client, deployment: str, build_id: str) -> None:
    """Once the version's workers have polled (the server knows it), make it current."""

    async def known() -> bool:
        try:
            described = await client.workflow_service.describe_worker_deployment(
                DescribeWorkerDeploymentRequest(
                    namespace=client.namespace, deployment_name=deployment
                )
            )
        except RPCError:
            return False
        summaries = described.worker_deployment_info.version_summaries
        return any(s.deployment_version.build_id == build_id for s in summaries)

    await eventually(known, within=60)
    await client.workflow_service.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(
            namespace=client.namespace,
            deployment_name=deployment,
            build_id=build_id,
            identity="upgrade-test",
        )
    )


async def build_id_of(client: Client, workflow_id: str, run_id: str | None = None) -> str:
    """The build id an execution is on (versioning_info), "" when unversioned."""
    described = await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
    info = described.raw_description.workflow_execution_info.versioning_info
    return str(info.deployment_version.build_id)


async def histories(client: Client, workflow_id: str) -> list[list[HistoryEvent]]:
    """Every run of a workflow id, oldest first, each run's events (followed back from the
    latest through continued_execution_run_id: visibility may lag)."""
    runs: list[list[HistoryEvent]] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        runs.insert(0, list(history.events))
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id
        if not run_id:
            return runs


# Under load a signal may land while a task completes its run: the server refuses the task
# and the worker runs it again with the signal. Any other cause fails the test.
_EXPECTED_TASK_FAILURES = {WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND}


def task_failures(events: list[HistoryEvent]) -> list[str]:
    """The unexpected workflow task failures of a run, by cause and message."""
    return [
        f"{WorkflowTaskFailedCause.Name(a.cause)}: {a.failure.message}"
        for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        and (a := e.workflow_task_failed_event_attributes).cause not in _EXPECTED_TASK_FAILURES
    ]


def completed_by(events: list[HistoryEvent]) -> list[tuple[float, str]]:
    """(time, build id) of each workflow task the run's workers completed."""
    return [
        (
            e.event_time.ToMicroseconds() / 1e6,
            e.workflow_task_completed_event_attributes.deployment_version.build_id,
        )
        for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]


def has_patch(events: list[HistoryEvent], patch: str) -> bool:
    """Whether the run recorded the patch marker (it ran version 2's branch)."""
    return any(
        e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
        and patch.encode() in e.marker_recorded_event_attributes.SerializeToString()
        for e in events
    )
