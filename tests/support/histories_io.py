"""Saving workflow histories from real runs, for the replay test (tests/histories)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from temporalio.client import Client

from batcher_service.names import SHUTDOWN_SIGNAL

HISTORIES = Path(__file__).parent.parent / "histories"


async def save_chain(client: Client, workflow_id: str, name: str) -> None:
    """Every run of a continue-as-new chain, from the first; the file name keeps the id."""
    handle = client.get_workflow_handle(workflow_id)
    run_id = (await handle.describe()).raw_description.workflow_execution_info.first_run_id
    index = 0
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        (HISTORIES / f"{name}-run{index}__{workflow_id}.json").write_text(history.to_json())
        last = history.events[-1]
        if not last.HasField("workflow_execution_continued_as_new_event_attributes"):
            return
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
        index += 1


async def save(client: Client, workflow_id: str, name: str) -> None:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    (HISTORIES / f"{name}__{workflow_id}.json").write_text(history.to_json())


async def record_if_asked(
    client: Client, name: str, batcher_id: str, caller_ids: list[str]
) -> None:
    """With RECORD_HISTORIES=1, drain the batcher and keep its histories and one caller's."""
    if os.environ.get("RECORD_HISTORIES") != "1":
        return
    batcher = client.get_workflow_handle(batcher_id)
    await batcher.signal(SHUTDOWN_SIGNAL)
    await asyncio.wait_for(batcher.result(), timeout=120)
    await save_chain(client, batcher_id, f"batcher-{name}")
    if caller_ids:
        await save(client, caller_ids[0], f"payment-{name}")
