"""Caller workflows for the tests of a caller that stays free while its write waits."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from write_batcher import write


@workflow.defn
class WriteWhileServing:
    """Writes one row while it takes signals, updates and queries; returns what it saw."""

    def __init__(self) -> None:
        self.pings: list[str] = []
        self.writing = False

    @workflow.run
    async def run(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        self.writing = True
        try:
            result = await write(table, row)
        except ApplicationError as err:
            return {"error": err.type, "pings": self.pings}
        finally:
            self.writing = False
        return {"outcome": str(result.outcome), "pings": self.pings}

    @workflow.signal
    def ping(self, name: str) -> None:
        self.pings.append(name)

    @workflow.update
    def echo(self, text: str) -> str:
        return f"{text} while writing={self.writing}"

    @workflow.query
    def state(self) -> dict[str, Any]:
        return {"writing": self.writing, "pings": list(self.pings)}


@workflow.defn
class WriteOnce:
    """One write, its outcome as text."""

    @workflow.run
    async def run(self, table: str, row: dict[str, Any]) -> str:
        result = await write(table, row)
        return str(result.outcome)


__all__ = ["WriteOnce", "WriteWhileServing"]
