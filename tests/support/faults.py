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


# The README's fault table, row by row in its order: each scenario is recorded by the one test
# that injects it (tests/support/fault_table.py writes the table from a FAULT_REPORT run).
KILL_BATCHER = "kill -9 batcher worker mid-flush (payments)"
KILL_BATCHER_PLAIN_TABLE = (
    "kill -9 batcher mid-flush + continue-as-new, tables without batcher columns (orders app)"
)
KILL_MAIN = "kill -9 main worker mid-run"
PG_STOPPED = "PostgreSQL stopped 20 s under load"
PG_DOWN_PAST_DEADLINE = "PostgreSQL down longer than the ack deadline (6 s)"
PG_DOWN_CONTINUE_AS_NEW = "PostgreSQL down while runs must continue-as-new, shard at its cap"
TEMPORAL_RESTART = "Temporal dev server restarted under load"
CARRY_AT_ITS_BOUND = (
    "PostgreSQL down, a shard filled with `MAX_ROW_BYTES` rows, continue-as-new forced"
)
BATCHER_KILLED_RESTARTED = "kill -9 batcher worker under a steady stream, restarted"
BATCHER_KILLED_STANDBY = "kill -9 batcher worker under a steady stream, a standby worker up"
BATCHER_KILLED_MID_TASK = "kill -9 batcher worker holding the shard's workflow task, restarted"
SIGNAL_BURST = "5,000 one-request signals in waves of 1,000, continue-as-new forced low"
DELIVERED_TWICE = "every request delivered twice, across continue-as-new"
CALLER_TERMINATED = "caller terminated before its ack"
POISON_ROWS = "6 poison rows (CHECK) over several flushes, 2 rows undecodable by PostgreSQL"
GENERATED_VALUES = "generated values (Unicode, int8 edges, NaN/inf, wrong types) via write()"
DEAD_LETTERING_FAILS = "dead-lettering itself fails (dead-letter table refuses every row)"
UNDECODABLE_INPUT = "undecodable workflow input (NaN, 12.5 for an int, missing field)"
SAME_REQUEST_3X = "same request 3x in one run, then again after it was written"
SHARD_AT_CAP = "shard held at a cap of 5 pending while PostgreSQL is down"
SHARD_AT_CAP_BACKOFF = "shard held at a cap of 5 by a 25 s outage, senders backing off"
CANCELLED_CALLER = "a cancelled caller's write still pending in its shard"
WITHDRAW_STORM = "500 deadlines at once, PostgreSQL slow (target table locked)"
WITHDRAWN_LATE_COPY = "a late copy of a withdrawn write after 10,000 other withdrawals"
WITHDRAW_RACING_COMMIT = "a withdrawal racing its write's flush, which commits"
WITHDRAW_RACING_TIMEOUT = "a withdrawal racing its write's flush, which times out; a late copy"
WITHDRAW_DOUBT_BEFORE = "connection cut at COMMIT before the server got it, then withdrawn"
WITHDRAW_DOUBT_AFTER = "connection cut at COMMIT after the server committed, then withdrawn"
WITHDRAW_TABLE_LOCKED = "the request table locked while a withdrawal needs it"
WITHDRAW_BAD_BATCH = "a withdrawal of a write in a batch that failed as a whole (BadBatch)"
WITHDRAW_ROLL_OVER = "a withdrawal while the shard's run hands over (continue-as-new)"

SCENARIOS = (
    KILL_BATCHER,
    KILL_BATCHER_PLAIN_TABLE,
    KILL_MAIN,
    PG_STOPPED,
    PG_DOWN_PAST_DEADLINE,
    PG_DOWN_CONTINUE_AS_NEW,
    TEMPORAL_RESTART,
    CARRY_AT_ITS_BOUND,
    BATCHER_KILLED_RESTARTED,
    BATCHER_KILLED_STANDBY,
    BATCHER_KILLED_MID_TASK,
    SIGNAL_BURST,
    DELIVERED_TWICE,
    CALLER_TERMINATED,
    POISON_ROWS,
    GENERATED_VALUES,
    DEAD_LETTERING_FAILS,
    UNDECODABLE_INPUT,
    SAME_REQUEST_3X,
    SHARD_AT_CAP,
    SHARD_AT_CAP_BACKOFF,
    CANCELLED_CALLER,
    WITHDRAW_STORM,
    WITHDRAWN_LATE_COPY,
    WITHDRAW_RACING_COMMIT,
    WITHDRAW_RACING_TIMEOUT,
    WITHDRAW_DOUBT_BEFORE,
    WITHDRAW_DOUBT_AFTER,
    WITHDRAW_TABLE_LOCKED,
    WITHDRAW_BAD_BATCH,
    WITHDRAW_ROLL_OVER,
)


def one_write(expected_rows: int, rows: int) -> Verification:
    """One write's check: the rows its answer says the table holds, against what it holds."""
    return Verification(
        expected_rows, rows, max(expected_rows - rows, 0), max(rows - expected_rows, 0), 0, 0
    )


def record(scenario: str, writes: int | None, check: Verification | None, outcome: str) -> None:
    """Append a row to the fault table when FAULT_REPORT names a file (README figures).

    ``writes`` and ``check`` are None where nothing is written (the row shows a dash).
    """
    assert scenario in SCENARIOS, f"not a scenario of the fault table: {scenario!r}"
    path = os.environ.get("FAULT_REPORT")
    if not path:
        return
    row = {
        "scenario": scenario,
        "writes": writes,
        "lost": None if check is None else check.lost,
        "duplicated": None if check is None else check.duplicates,
        "outcome": outcome,
    }
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")
