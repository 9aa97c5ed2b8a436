"""Write batching on Temporal: one ``await write(table, row)`` from any workflow.

Rows go through a central, sharded batcher workflow that writes them to PostgreSQL in bulk
and answers every caller with its row's outcome. Wire a worker with ``WriteBatchingPlugin``;
``write_batcher.testing`` runs a workflow that writes without a database.
"""

from write_batcher import errors
from write_batcher._converter import InvalidInputError, strict_data_converter
from write_batcher._plugin import StrictInputsPlugin, WriteBatchingPlugin
from write_batcher._settings import WriteSettings
from write_batcher._table_files import load_table_specs, table_specs_from_dict
from write_batcher._workflow import WriteResult, write
from write_batcher.contract import WriteAck, WriteOutcome
from write_batcher.tables import RowValidationError, TableSpec, TableSpecError

__all__ = [
    "InvalidInputError",
    "RowValidationError",
    "StrictInputsPlugin",
    "TableSpec",
    "TableSpecError",
    "WriteAck",
    "WriteBatchingPlugin",
    "WriteOutcome",
    "WriteResult",
    "WriteSettings",
    "errors",
    "load_table_specs",
    "strict_data_converter",
    "table_specs_from_dict",
    "write",
]
