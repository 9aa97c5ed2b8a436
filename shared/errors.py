"""ApplicationError types that cross the wire; callers branch on these strings."""

from typing import Final

# Raised in the calling workflow by ``shared.workflow.write``.
WRITE_REJECTED: Final = "WriteRejected"
# The ack did not come within the deadline, and the write was withdrawn: it is not written.
WRITE_CONFIRMATION_TIMEOUT: Final = "WriteConfirmationTimeout"
# The deadline passed and the batcher could not be reached to settle it: look it up by id.
WRITE_OUTCOME_UNKNOWN: Final = "WriteOutcomeUnknown"
INVALID_WRITE: Final = "InvalidWrite"
# A batcher run about to continue-as-new refuses updates; the sender retries them.
BATCHER_ROLLING_OVER: Final = "BatcherRollingOver"
# A workflow's or activity's input could not be decoded into its declared types.
INVALID_INPUT: Final = "InvalidWorkflowInput"

# Raised by batcher activities.
DATABASE_UNAVAILABLE: Final = "DatabaseUnavailable"
# The connection dropped during COMMIT: the batch may be written; its requests are re-flushed
# (the request table answers which were) and a withdrawal asks the database first.
FLUSH_IN_DOUBT: Final = "FlushInDoubt"
BAD_BATCH: Final = "BadBatch"
# Ack error types for rows the batcher refused.
ROW_REFUSED: Final = "RowRefused"
UNKNOWN_TABLE: Final = "UnknownTable"
WRITE_WITHDRAWN: Final = "WriteWithdrawn"

# Raised by the backfill's validation activity, before any row moves: all non-retryable.
BACKFILL_SOURCE_UNREACHABLE: Final = "BackfillSourceUnreachable"
BACKFILL_SOURCE_NOT_FOUND: Final = "BackfillSourceNotFound"
BACKFILL_KEY_NOT_FOUND: Final = "BackfillKeyNotFound"
BACKFILL_KEY_NOT_UNIQUE: Final = "BackfillKeyNotUnique"
BACKFILL_KEY_NOT_ORDERABLE: Final = "BackfillKeyNotOrderable"
BACKFILL_TARGET_INCOMPATIBLE: Final = "BackfillTargetIncompatible"
BACKFILL_INVALID_INPUT: Final = "BackfillInvalidInput"
# Raised by the copy activity: a row the target refuses (non-retryable); the source dropped
# mid-copy (retryable, resumes from the heartbeat cursor).
BACKFILL_BAD_ROW: Final = "BackfillBadRow"
BACKFILL_SOURCE_UNAVAILABLE: Final = "BackfillSourceUnavailable"
# A job carried a URL (its input is kept in workflow history) instead of a source's name.
BACKFILL_SOURCE_REFUSED: Final = "BackfillSourceRefused"
# The job's source name is not configured on the batcher worker (or none is).
BACKFILL_SOURCE_UNKNOWN: Final = "BackfillSourceUnknown"
