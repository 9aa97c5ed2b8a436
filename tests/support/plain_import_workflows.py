"""A workflow module as a user writes it: the library imported at top level, nothing passed
through by hand (no ``workflow.unsafe.imports_passed_through()``).

Each workflow reports ``id()`` of the ``write_batcher`` module it sees: the worker's own module
when the sandbox passes the library through, a copy the sandbox imported for the run otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow

import write_batcher
from write_batcher import WriteResult, write


@dataclass
class Imported:
    result: WriteResult
    library_id: int


@workflow.defn(name="PlainImportWrite")
class PlainImportWrite:
    @workflow.run
    async def run(self, order_id: str) -> Imported:
        row = {"order_id": order_id, "status": "placed", "total_cents": 1}
        return Imported(await write("orders", row), id(write_batcher))


@workflow.defn(name="PlainImportProbe")
class PlainImportProbe:
    @workflow.run
    async def run(self) -> int:
        return id(write_batcher)
