"""The bulk write: one transaction per flush, one statement per table, bisection around bad rows."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg

from batcher_service.names import REQUEST_TABLE
from batcher_service.postgres.dead_letter_store import safe_text, store_dead_letters
from batcher_service.postgres.pool import concerns_statement, is_connection_error
from batcher_service.postgres.statements import TableStatement, build_statement
from write_batcher import RowValidationError, TableSpec, errors
from write_batcher.contract import WriteAck, WriteOutcome, WriteRequest

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection = asyncpg.Connection | PoolConnectionProxy[asyncpg.Record]

_OUTCOMES = {o.value: o for o in WriteOutcome}
WITHDRAWN_MESSAGE = "withdrawn by its caller after its deadline; not written"


class DatabaseUnavailable(Exception):
    """The database cannot take the flush now; nothing of it was committed."""


class CommitInDoubt(Exception):
    """The connection failed during COMMIT: the flush may or may not be written."""


@dataclass
class WriteReport:
    """Acks for every request of a batch, the statements it took, what dead-lettering did."""

    acks: dict[str, WriteAck] = field(default_factory=dict)
    statements: int = 0
    dead_lettered: int = 0
    dead_letter_failures: int = 0
    # Set once COMMIT was sent: an interruption from then on leaves the outcome in doubt.
    committing: bool = False


@dataclass
class _Rejection:
    request: WriteRequest
    error_type: str
    message: str


class BatchWriter:
    """Writes batches into the tables of its specs; the only code that inserts users' rows."""

    def __init__(self, pool: asyncpg.Pool, tables: Mapping[str, TableSpec]) -> None:
        self._pool = pool
        self._statements = {name: build_statement(spec) for name, spec in tables.items()}

    async def write(
        self, batch_id: str, requests: list[WriteRequest], report: WriteReport | None = None
    ) -> WriteReport:
        """Write once; raises DatabaseUnavailable or CommitInDoubt for connection trouble."""
        report = report if report is not None else WriteReport()
        groups, refused = self._group(requests)
        try:
            await self._write(batch_id, groups, refused, report)
        except (DatabaseUnavailable, CommitInDoubt):
            raise
        except Exception as err:
            if _retry_whole(err):
                raise DatabaseUnavailable(f"{type(err).__name__}: {err}") from err
            raise
        return report

    def _group(
        self, requests: list[WriteRequest]
    ) -> tuple[dict[str, list[WriteRequest]], list[_Rejection]]:
        groups: dict[str, list[WriteRequest]] = {}
        refused: list[_Rejection] = []
        for req in requests:
            statement = self._statements.get(req.table)
            if statement is None:
                refused.append(
                    _Rejection(req, errors.UNKNOWN_TABLE, f"no table {req.table!r} in the spec")
                )
                continue
            try:
                # The caller validated already; a batcher never trusts a value to convert.
                statement.spec.validate(req.row)
            except RowValidationError as err:
                refused.append(_Rejection(req, errors.INVALID_WRITE, str(err)))
                continue
            groups.setdefault(req.table, []).append(req)
        return groups, refused

    async def _write(
        self,
        batch_id: str,
        groups: dict[str, list[WriteRequest]],
        refused: list[_Rejection],
        report: WriteReport,
    ) -> None:
        async with self._pool.acquire() as conn:
            try:
                # The common case: every statement succeeds, one transaction, no savepoints.
                await self._in_transaction(
                    conn,
                    self._write_groups(conn, batch_id, groups, refused, report, bisect=False),
                    report,
                )
                return
            except Exception as err:
                if _retry_whole(err):
                    raise
                log.info("batch %s: %s; bisecting", batch_id, type(err).__name__)
            report.acks.clear()
            report.dead_lettered = report.dead_letter_failures = 0
            # Some row failed: again, each sub-batch under a savepoint, until only bad rows fail.
            await self._in_transaction(
                conn,
                self._write_groups(conn, batch_id, groups, refused, report, bisect=True),
                report,
            )

    @staticmethod
    async def _in_transaction(
        conn: Connection, work: Coroutine[Any, Any, None], report: WriteReport
    ) -> None:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await work
        except BaseException:
            with contextlib.suppress(Exception):
                await transaction.rollback()
            raise
        report.committing = True
        try:
            await transaction.commit()
        except Exception as err:
            if is_connection_error(err):
                # The server may have committed before the connection dropped.
                raise CommitInDoubt(f"{type(err).__name__}: {err}") from err
            raise

    async def _write_groups(  # noqa: PLR0917
        self,
        conn: Connection,
        batch_id: str,
        groups: dict[str, list[WriteRequest]],
        refused: list[_Rejection],
        report: WriteReport,
        bisect: bool,
    ) -> None:
        """One statement per table; ``bisect``: each under a savepoint, split around bad rows."""
        rejected = list(refused)
        for table, reqs in groups.items():
            if bisect:
                await self._bisect(conn, table, reqs, batch_id, report, rejected)
            else:
                report.statements += 1
                self._record(await self._run(conn, table, reqs, batch_id), batch_id, report)
        if rejected:
            await self._store_rejections(conn, batch_id, rejected, report)

    async def _run(
        self, conn: Connection, table: str, reqs: list[WriteRequest], batch_id: str
    ) -> list[asyncpg.Record]:
        statement: TableStatement = self._statements[table]
        return await conn.fetch(statement.sql, *statement.arguments(reqs, batch_id))

    @staticmethod
    def _record(rows: list[asyncpg.Record], batch_id: str, report: WriteReport) -> None:
        for row in rows:
            rid = row["request_id"]
            if row["outcome"] is not None:
                report.acks[rid] = WriteAck(rid, _OUTCOMES[row["outcome"]], batch_id)
            elif row["previous_batch"] == batch_id:
                # A retry of the attempt that wrote it: the same answer as that attempt's.
                report.acks[rid] = WriteAck(rid, _OUTCOMES[row["previous_outcome"]], batch_id)
            elif row["previous_outcome"] == WriteOutcome.WITHDRAWN:
                # Withdrawn by its caller at its deadline: this copy is refused, for good.
                report.acks[rid] = WriteAck(
                    rid,
                    WriteOutcome.REJECTED,
                    row["previous_batch"],
                    errors.WRITE_WITHDRAWN,
                    WITHDRAWN_MESSAGE,
                )
            elif row["previous_outcome"] == WriteOutcome.WRITTEN:
                report.acks[rid] = WriteAck(
                    rid, WriteOutcome.ALREADY_WRITTEN, row["previous_batch"]
                )
            else:
                # Recorded before as key_exists or superseded: that answer stands.
                outcome = _OUTCOMES[row["previous_outcome"]]
                report.acks[rid] = WriteAck(rid, outcome, row["previous_batch"])

    async def _bisect(  # noqa: PLR0917
        self,
        conn: Connection,
        table: str,
        reqs: list[WriteRequest],
        batch_id: str,
        report: WriteReport,
        rejected: list[_Rejection],
    ) -> None:
        if not reqs:
            return
        report.statements += 1
        try:
            async with conn.transaction():  # a savepoint inside the flush's transaction
                rows = await self._run(conn, table, reqs, batch_id)
        except Exception as err:
            if _retry_whole(err):
                raise
            if len(reqs) == 1 or concerns_statement(err):
                for req in reqs:
                    log.warning("rejected %s: %s: %s", req.request_id, type(err).__name__, err)
                    rejected.append(_Rejection(req, type(err).__name__, safe_text(str(err))))
                return
            mid = len(reqs) // 2
            await self._bisect(conn, table, reqs[:mid], batch_id, report, rejected)
            await self._bisect(conn, table, reqs[mid:], batch_id, report, rejected)
            return
        self._record(rows, batch_id, report)

    async def _store_rejections(
        self,
        conn: Connection,
        batch_id: str,
        rejected: list[_Rejection],
        report: WriteReport,
    ) -> None:
        for item in rejected:
            report.acks[item.request.request_id] = WriteAck(
                item.request.request_id,
                WriteOutcome.REJECTED,
                batch_id,
                item.error_type,
                item.message,
            )
        report.statements += 1
        stored = await store_dead_letters(
            conn, batch_id, [(r.request, r.error_type, r.message) for r in rejected]
        )
        if stored:
            report.dead_lettered += len(rejected)
        else:
            report.dead_letter_failures += len(rejected)


def _retry_whole(err: BaseException) -> bool:
    """Connection trouble, or another attempt of the same flush recording a request first
    (a zombie attempt): the whole flush is retried, no row is rejected for it."""
    if isinstance(err, DatabaseUnavailable | CommitInDoubt) or is_connection_error(err):
        return True
    return (
        isinstance(err, asyncpg.UniqueViolationError)
        and getattr(err, "table_name", None) == REQUEST_TABLE
    )
