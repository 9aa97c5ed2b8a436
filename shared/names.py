"""Names on the wire: task queues, workflow types, signals, updates, queries and tables."""

from typing import Final

BATCHER_TASK_QUEUE: Final = "write-batching-batcher"

BATCHER_WORKFLOW: Final = "WriteBatcherWorkflow"
BACKFILL_WORKFLOW: Final = "BackfillWorkflow"

# Several callers' writes in one signal: one history event and one RPC for all of them.
SUBMIT_SIGNAL: Final = "submit_writes"
# The batcher's flush activity answers each caller with this signal.
ACK_SIGNAL: Final = "write_ack"
# A caller whose deadline passed settles its write: withdrawn, or the outcome it had.
WITHDRAW_UPDATE: Final = "withdraw_write"
SHUTDOWN_SIGNAL: Final = "shutdown"
# The caller library's local activities, registered on every caller worker by its plugin.
SUBMIT_WRITE_ACTIVITY: Final = "write_batching_submit"
WITHDRAW_WRITE_ACTIVITY: Final = "write_batching_withdraw"
STATS_QUERY: Final = "stats"
BACKFILL_PROGRESS_QUERY: Final = "backfill_progress"

BATCHER_ID_PREFIX: Final = "write-batcher"
BACKFILL_ID_PREFIX: Final = "backfill"

# The batcher's own tables, beside the users' tables in the same database.
REQUEST_TABLE: Final = "write_batcher_requests"
DEAD_LETTER_TABLE: Final = "write_batcher_dead_letters"


def batcher_workflow_id(shard: int, prefix: str = BATCHER_ID_PREFIX) -> str:
    """Workflow id of one batcher shard; stable so callers can signal-with-start it."""
    return f"{prefix}-{shard}"
