"""ApplicationError types raised on the batcher's side only: its activities and backfills."""

from typing import Final

from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

DATABASE_UNAVAILABLE: Final = "DatabaseUnavailable"
# The connection dropped during COMMIT: the batch may be written; its requests are re-flushed
# (the request table answers which were) and a withdrawal asks the database first.
FLUSH_IN_DOUBT: Final = "FlushInDoubt"

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


def database_unavailable(message: str) -> ApplicationError:
    """A connection-class failure, retried by Temporal. Benign: the SDK logs each failed attempt
    at DEBUG, not as a warning with a traceback (an outage made thousands); the workflow logs
    one line per flush or withdrawal record that ends without writing, and /readyz says why."""
    return ApplicationError(
        message, type=DATABASE_UNAVAILABLE, category=ApplicationErrorCategory.BENIGN
    )


def source_unavailable(message: str) -> ApplicationError:
    """A backfill's source dropped or cannot be reached for now: retried by Temporal, the copy
    resumes from its heartbeat cursor. Benign for the same reason as ``database_unavailable``
    (the worker logs one line per attempt, naming the source)."""
    return ApplicationError(
        message, type=BACKFILL_SOURCE_UNAVAILABLE, category=ApplicationErrorCategory.BENIGN
    )
