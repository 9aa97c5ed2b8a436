"""Payloads of the backfill workflow, shared by its command, workflow and activities."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class BackfillInput:
    """One backfill job: copy a source table or query into a table of the worker's database.

    ``source`` is a name (e.g. ``crm``) the batcher worker resolves from its environment
    (``BACKFILL_SOURCE_CRM``, or the file ``$BACKFILL_SOURCES_DIR/crm``). The job travels in
    workflow history, so it never carries a URL: one is refused before anything runs.
    """

    source: str
    key: str
    target_table: str
    source_table: str | None = None
    source_query: str | None = None
    batch_size: int = 5_000
    # Rows per second for the whole job, split evenly across partitions; None: as fast as it goes.
    rate_limit: float | None = None
    partitions: int = 1
    heartbeat_timeout_seconds: float = 30.0


@dataclass
class SourceSpec:
    """What validation learned: the columns to copy (key first) and how to address the key."""

    from_sql: str
    columns: list[str]
    key_type: str
    key_is_integer: bool
    # Every column has the same type in source and target and the key is an integer: pages
    # move as binary COPY, with the key last so the page's last key is its last field.
    binary: bool = False


@dataclass
class PlanInput:
    """Input of the planning activity."""

    job: BackfillInput
    spec: SourceSpec


@dataclass
class KeyRange:
    """One partition: keys in (lower_exclusive, upper_inclusive]; None means unbounded."""

    index: int
    lower_exclusive: str | None
    upper_inclusive: str | None
    rows_estimate: int


@dataclass
class BackfillPlan:
    """The partitions the job runs, one activity each."""

    ranges: list[KeyRange] = field(default_factory=list)
    rows_estimate: int = 0


@dataclass
class CopyPartitionInput:
    """Everything one partition's copy activity needs."""

    source: str
    spec: SourceSpec
    target_table: str
    batch_size: int
    rate_limit: float | None
    key_range: KeyRange


@dataclass
class BackfillProgress:
    """Heartbeat details of a copy activity: where to resume and how far it got."""

    partition: int
    cursor: str | None
    rows_done: int = 0
    rows_inserted: int = 0
    rows_total_estimate: int = 0
    batches: int = 0
    # Batches that found rows of their key range already in the target (a resumed page, a
    # concurrent writer) and went through staging and the merge instead of a direct COPY.
    merged_batches: int = 0

    @classmethod
    def from_details(cls, details: Any) -> BackfillProgress:
        """Heartbeat details come back as a dict when decoded without a type hint."""
        if isinstance(details, BackfillProgress):
            return details
        return cls(**details)


@dataclass
class PartitionResult:
    """What one partition copied."""

    partition: int
    rows_read: int
    rows_inserted: int
    batches: int
    cursor: str | None
    merged_batches: int = 0


@dataclass
class BackfillResult:
    """Totals of the whole job."""

    rows_read: int
    rows_inserted: int
    batches: int
    partitions: list[PartitionResult] = field(default_factory=list)


@dataclass
class BackfillStatus:
    """The workflow's own view, for ``watch``: partitions done and the planned total."""

    partitions: int = 0
    rows_total_estimate: int = 0
    completed: list[PartitionResult] = field(default_factory=list)
