"""Names on the wire: task queues, workflow types, signals, updates, queries and tables."""

from typing import Final

BATCHER_TASK_QUEUE: Final = "write-batching-batcher"

BATCHER_WORKFLOW: Final = "WriteBatcherWorkflow"
BACKFILL_WORKFLOW: Final = "BackfillWorkflow"

# Several callers' writes in one signal: one history event and one RPC for all of them.
SUBMIT_SIGNAL: Final = "submit_writes"
# A caller worker collects its callers' acks from a shard with this query: no event in any
# history, no limit on how many caller workers ask at once.
ACKS_QUERY: Final = "write_acks"
# A caller whose deadline passed settles its write: withdrawn, or the outcome it had.
WITHDRAW_UPDATE: Final = "withdraw_write"
SHUTDOWN_SIGNAL: Final = "shutdown"
# The caller library's local activity, registered on every caller worker by its plugin: it
# submits a write, waits for its ack and settles it at the deadline.
WRITE_ACTIVITY: Final = "write_batching_write"
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
