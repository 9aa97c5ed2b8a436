"""Names on the wire: task queues, workflow types, signals, queries and workflow ids."""

from typing import Final

MAIN_TASK_QUEUE: Final = "write-batching-main"
BATCHER_TASK_QUEUE: Final = "write-batching-batcher"

PAYMENT_WORKFLOW: Final = "PaymentWorkflow"
BATCHER_WORKFLOW: Final = "WriteBatcherWorkflow"
BACKFILL_WORKFLOW: Final = "BackfillWorkflow"

SUBMIT_SIGNAL: Final = "submit_write"
# Several callers' writes in one signal: one history event and one RPC for all of them.
SUBMIT_BATCH_SIGNAL: Final = "submit_writes"
# The same coalesced writes as an update that returns once they are written: the callers'
# acks come back in its result, with no signal to each caller and no workflow task for it.
SUBMIT_UPDATE: Final = "submit_writes_and_wait"
ACK_SIGNAL: Final = "write_ack"
SHUTDOWN_SIGNAL: Final = "shutdown"
STATS_QUERY: Final = "stats"
BACKFILL_PROGRESS_QUERY: Final = "backfill_progress"

BATCHER_ID_PREFIX: Final = "write-batcher"
BACKFILL_ID_PREFIX: Final = "backfill"

TARGET_TABLE: Final = "ledger_entries"
DEAD_LETTER_TABLE: Final = "ledger_dead_letters"


def batcher_workflow_id(shard: int, prefix: str = BATCHER_ID_PREFIX) -> str:
    """Workflow id of one batcher shard; stable so callers can signal-with-start it."""
    return f"{prefix}-{shard}"
