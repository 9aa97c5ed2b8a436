"""Withdrawals sent straight to a real shard, as the batcher's withdraw activity sends them."""

from __future__ import annotations

import asyncio

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from batcher_service.names import REQUEST_TABLE
from write_batcher import errors
from write_batcher.contract import WITHDRAW_UPDATE, WithdrawRequest, WriteAck

ASK_AGAIN = (errors.WRITE_IN_FLIGHT, errors.BATCHER_ROLLING_OVER)


async def ask(client: Client, shard_id: str, rid: str, table: str = "accounts") -> WriteAck | str:
    """One withdrawal: the shard's answer, or the type of its refusal."""
    handle = client.get_workflow_handle(shard_id)
    try:
        ack: WriteAck = await handle.execute_update(
            WITHDRAW_UPDATE, WithdrawRequest(rid, table), result_type=WriteAck
        )
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        assert isinstance(cause, ApplicationError), cause
        return cause.type or "untyped"
    return ack


async def settle(
    client: Client, shard_id: str, rid: str, table: str = "accounts", within: float = 60.0
) -> tuple[WriteAck, list[str]]:
    """Ask until the shard answers; its refusals on the way (each must say "ask again")."""
    refusals: list[str] = []
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            answer = await ask(client, shard_id, rid, table)
        except RPCError as err:  # the server's in-flight update limit: ask again
            answer = f"rpc:{err.status.name if err.status else err}"
        if isinstance(answer, WriteAck):
            return answer, refusals
        assert answer in ASK_AGAIN or answer.startswith("rpc:"), answer
        refusals.append(answer)
        assert asyncio.get_running_loop().time() < deadline, (rid, refusals[-5:])
        await asyncio.sleep(0.2)


async def recorded(pool: asyncpg.Pool, rid: str) -> str | None:
    """The request table's outcome for an id (None: not there)."""
    outcome: str | None = await pool.fetchval(
        f"SELECT outcome FROM {REQUEST_TABLE} WHERE request_id = $1", rid
    )
    return outcome


async def wait_blocked(pool: asyncpg.Pool, table: str, within: float = 60.0) -> None:
    """Until a statement waits for a lock on ``table`` (a flush stuck behind a test's lock)."""
    deadline = asyncio.get_running_loop().time() + within
    while not await pool.fetchval(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = $1::regclass", table
    ):
        assert asyncio.get_running_loop().time() < deadline, f"no flush waited on {table}"
        await asyncio.sleep(0.1)


async def lock_table(conn: PoolConnectionProxy, table: str) -> Transaction:
    """``table`` locked against every other session until the returned transaction ends."""
    tx = conn.transaction()
    await tx.start()
    await conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    return tx
