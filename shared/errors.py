"""ApplicationError types that cross the wire; callers branch on these strings."""

from typing import Final

# Raised by the business workflow.
WRITE_REJECTED: Final = "WriteRejected"
WRITE_CONFIRMATION_TIMEOUT: Final = "WriteConfirmationTimeout"
INVALID_WRITE: Final = "InvalidWrite"
BATCHER_OVERLOADED: Final = "BatcherOverloaded"

# Raised by batcher activities.
DATABASE_UNAVAILABLE: Final = "DatabaseUnavailable"
BAD_BATCH: Final = "BadBatch"
