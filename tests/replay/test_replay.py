"""Histories recorded from real runs replay against the current workflow code."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from batcher_service.shard.workflow import WriteBatcherWorkflow
from main_service.workflows import PaymentWorkflow
from write_batcher import WriteBatchingPlugin
from write_batcher.contract import WRITE_ACTIVITY

HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("*.json"))


def test_histories_are_recorded() -> None:
    names = {p.name.split("__")[0] for p in HISTORIES}
    for name in (
        "batcher-fixed-run1",
        "batcher-adaptive-run0",
        "batcher-withdrawn-run0",
        "payment-written-fixed",
        "payment-invalid-write",
        "payment-withdrawn",
    ):
        assert name in names
    kinds = {e.get("eventType") for p in HISTORIES for e in json.loads(p.read_text())["events"]}
    assert "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW" in kinds
    # Withdrawals are updates the batcher answered.
    assert "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED" in kinds


def test_a_write_costs_its_caller_one_activity_and_no_message() -> None:
    """The write is one activity on the batcher's task queue, completed by the shard's flush:
    no marker (local activity), signal, timer or update in the caller's history."""
    written = [p for p in HISTORIES if p.name.startswith("payment-written-")]
    assert written
    for path in written:
        events = json.loads(path.read_text())["events"]
        kinds = [e["eventType"] for e in events]
        assert not {k for k in kinds if "SIGNAL" in k or "TIMER" in k or "UPDATE" in k}, path.name
        assert "EVENT_TYPE_MARKER_RECORDED" not in kinds, path.name
        scheduled = [
            e["activityTaskScheduledEventAttributes"]
            for e in events
            if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
        ]
        writes = [a for a in scheduled if a["activityType"]["name"] == WRITE_ACTIVITY]
        assert len(writes) == 1, path.name
        started = events[0]["workflowExecutionStartedEventAttributes"]
        assert writes[0]["taskQueue"]["name"] != started["taskQueue"]["name"], path.name
        # Start, authorize (an activity and the tasks around it), the write (the same), complete.
        assert len(kinds) == 17, (path.name, kinds)


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.name)
def test_history_replays(path: Path) -> None:
    # The workflow id is part of the file name: request ids derive from it.
    workflow_id = path.stem.split("__", 1)[1]
    history = WorkflowHistory.from_json(workflow_id, path.read_text())
    # The payment worker's plugin: its strict converter, and write_batcher passed through the
    # sandbox (main_service.workflows imports it at top level).
    replayer = Replayer(
        workflows=[WriteBatcherWorkflow, PaymentWorkflow],
        plugins=[WriteBatchingPlugin()],
    )
    asyncio.run(replayer.replay_workflow(history))
