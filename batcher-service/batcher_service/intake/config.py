"""The intake's settings: how writes are validated, routed to shards and coalesced."""

from __future__ import annotations

from dataclasses import dataclass

from write_batcher.contract import BATCHER_ID_PREFIX


@dataclass(frozen=True)
class IntakeConfig:
    """Read once from the batcher worker's environment; every batcher worker of one
    deployment must use the same ``shards`` and ``id_prefix``."""

    # How many batcher shards the partition keys are spread over (BATCHER_SHARDS).
    shards: int = 1
    # Shard workflow ids are ``{id_prefix}-{n}`` (BATCHER_ID_PREFIX).
    id_prefix: str = BATCHER_ID_PREFIX
    # How long this worker gathers writes to one shard into one signal (SUBMIT_LINGER_SECONDS):
    # a shard then takes about one signal per second per batcher worker, whatever the number
    # of callers (each signal is a billable action and a history event).
    linger_seconds: float = 1.0
    # A row larger than this, as JSON, is refused at once (MAX_ROW_BYTES).
    max_row_bytes: int = 16 * 1024
