"""Write batching on Temporal: the caller library (``write``, the plugin) and the contract.

Nothing runs at import: the public names load on first use, so ``from shared import errors``
in a batcher or a workflow sandbox costs only that module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared import errors
    from shared._converter import InvalidInputError, strict_data_converter
    from shared.payloads import WriteAck, WriteOutcome
    from shared.plugin import StrictInputsPlugin, WriteBatchingPlugin
    from shared.table_files import load_table_specs
    from shared.tables import RowValidationError, TableSpec
    from shared.workflow import WriteResult, write

__all__ = [
    "InvalidInputError",
    "RowValidationError",
    "StrictInputsPlugin",
    "TableSpec",
    "WriteAck",
    "WriteBatchingPlugin",
    "WriteOutcome",
    "WriteResult",
    "errors",
    "load_table_specs",
    "strict_data_converter",
    "write",
]

_HOMES = {
    "InvalidInputError": "shared._converter",
    "strict_data_converter": "shared._converter",
    "WriteAck": "shared.payloads",
    "WriteOutcome": "shared.payloads",
    "StrictInputsPlugin": "shared.plugin",
    "WriteBatchingPlugin": "shared.plugin",
    "RowValidationError": "shared.tables",
    "TableSpec": "shared.tables",
    "load_table_specs": "shared.table_files",
    "WriteResult": "shared.workflow",
    "write": "shared.workflow",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        # Submodules (``from shared import errors``) fall through to the import system.
        raise AttributeError(f"module 'shared' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
