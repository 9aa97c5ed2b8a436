"""Names only the batcher's side uses: its operator signal and query, backfills, its tables."""

from typing import Final

SHUTDOWN_SIGNAL: Final = "shutdown"
STATS_QUERY: Final = "stats"

BACKFILL_WORKFLOW: Final = "BackfillWorkflow"
BACKFILL_PROGRESS_QUERY: Final = "backfill_progress"
BACKFILL_ID_PREFIX: Final = "backfill"

# The batcher's own tables, beside the users' tables in the same database.
REQUEST_TABLE: Final = "write_batcher_requests"
DEAD_LETTER_TABLE: Final = "write_batcher_dead_letters"
