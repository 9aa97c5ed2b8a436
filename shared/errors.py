"""ApplicationError types that cross the wire; callers branch on these strings."""

from typing import Final

# Raised by the business workflow.
WRITE_REJECTED: Final = "WriteRejected"
WRITE_CONFIRMATION_TIMEOUT: Final = "WriteConfirmationTimeout"
INVALID_WRITE: Final = "InvalidWrite"
BATCHER_OVERLOADED: Final = "BatcherOverloaded"
# A batcher run about to continue-as-new refuses new updates; the sender retries them.
BATCHER_ROLLING_OVER: Final = "BatcherRollingOver"

# Raised by batcher activities.
DATABASE_UNAVAILABLE: Final = "DatabaseUnavailable"
BAD_BATCH: Final = "BadBatch"

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
