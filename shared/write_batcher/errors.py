"""ApplicationError types that cross the wire; callers branch on these strings."""

from typing import Final

# Raised in the calling workflow by ``write_batcher.write``.
WRITE_REJECTED: Final = "WriteRejected"
# The ack did not come within the deadline, and the write was withdrawn: it is not written.
WRITE_CONFIRMATION_TIMEOUT: Final = "WriteConfirmationTimeout"
# The deadline passed and the batcher could not be reached to settle it: look it up by id.
WRITE_OUTCOME_UNKNOWN: Final = "WriteOutcomeUnknown"
INVALID_WRITE: Final = "InvalidWrite"
# A full shard dropped the write: its attempt fails with this (retryable) and runs again.
BATCHER_OVERLOADED: Final = "BatcherOverloaded"
# The batcher worker could not hand the write to its shard: the attempt fails and runs again.
HAND_OFF_FAILED: Final = "WriteHandOffFailed"
# A batcher run about to continue-as-new refuses updates; the sender retries them.
BATCHER_ROLLING_OVER: Final = "BatcherRollingOver"
# A withdrawal the shard cannot settle at once (its write is in a flush, or only the request
# table can tell): ask again shortly. A shard answers at once, never waiting for a flush.
WRITE_IN_FLIGHT: Final = "WriteInFlight"
# A workflow's or activity's input could not be decoded into its declared types.
INVALID_INPUT: Final = "InvalidWorkflowInput"

# Ack error types for rows the batcher refused, or a batch it could not write at all.
BAD_BATCH: Final = "BadBatch"
ROW_REFUSED: Final = "RowRefused"
UNKNOWN_TABLE: Final = "UnknownTable"
WRITE_WITHDRAWN: Final = "WriteWithdrawn"
