"""Helpers for fault tests: resilient result collection and a shared results ledger."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from loadtest.verify import Verification
from main_service.names import PAYMENT_WORKFLOW
from main_service.starter import payment_for


@dataclass
class Outcome:
    completed: list[str]
    failed: dict[str, str]


async def start_payments(client: Client, run_id: str, count: int, task_queue: str) -> list[str]:
    ids = []
    for index in range(count):
        workflow_id, payment = payment_for(run_id, index, accounts=13)
        await client.start_workflow(
            PAYMENT_WORKFLOW, payment, id=workflow_id, task_queue=task_queue
        )
        ids.append(workflow_id)
    return ids


async def collect(client: Client, workflow_ids: list[str], within: float = 240) -> Outcome:
    """Wait for every workflow, riding out a server that is briefly down."""
    outcome = Outcome([], {})

    async def one(workflow_id: str) -> None:
        while True:
            try:
                await client.get_workflow_handle(workflow_id).result()
                outcome.completed.append(workflow_id)
                return
            except WorkflowFailureError as err:
                outcome.failed[workflow_id] = repr(err.cause)
                return
            except RPCError:
                await asyncio.sleep(1)

    await asyncio.wait_for(asyncio.gather(*(one(w) for w in workflow_ids)), timeout=within)
    return outcome


async def verify_payment_ids(pool: asyncpg.Pool, payment_ids: list[str]) -> Verification:
    """Lost and duplicated ledger rows and batcher records for payments signalled directly.

    The ledger's key makes a duplicate row impossible; a duplicate *write* would show as a
    second record of the same key in the batcher's request table.
    """
    rows = int(
        await pool.fetchval(
            "SELECT count(*) FROM ledger_entries WHERE payment_id = ANY($1::text[])", payment_ids
        )
    )
    written = int(
        await pool.fetchval(
            "SELECT count(*) FROM write_batcher_requests WHERE outcome = 'written' "
            "AND row_key = ANY($1::text[])",
            [json.dumps([p]) for p in payment_ids],
        )
    )
    lost = len(payment_ids) - rows
    return Verification(len(payment_ids), rows, lost, written - rows, 0, 0)


def record(scenario: str, writes: int, check: Verification, outcome: str) -> None:
    """Append a row to the fault table when FAULT_REPORT names a file (README figures)."""
    path = os.environ.get("FAULT_REPORT")
    if not path:
        return
    row = {
        "scenario": scenario,
        "writes": writes,
        "lost": check.lost,
        "duplicated": check.duplicates,
        "outcome": outcome,
    }
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")
