"""What a run hands to the next: each carried part bounded by its size as the worker encodes it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from temporalio.converter import AdvancedJSONEncoder

from write_batcher.contract import WriteRequest

T = TypeVar("T")

# Temporal terminates a run whose continue-as-new input passes 2 MiB (and warns from 512 KiB):
# the whole encoded BatcherState stays under 1 MiB, whatever the load or the outage.
CARRY_LIMIT = 1_048_576
# Each part's share, in encoded bytes; the rest (stats, config, field names) is a few kB, and
# what is left over is headroom. The buffer's share also covers its in-doubt ids.
PENDING_BYTES = 560_000
RECENT_BYTES = 96_000
SETTLED_BYTES = 112_000
DELIVERY_BYTES = 112_000
WITHDRAWN_BYTES = 96_000

# The largest MAX_ROW_BYTES a worker starts with. The intake measures a row as UTF-8 JSON; the
# shard stores it with non-ASCII escaped (a 2-byte character becomes six bytes, three times
# its measure at most): three times this plus a request's frame stays under PENDING_BYTES, so
# any row the intake accepts fits an empty shard (a larger one would be refused as "shard
# full" until its caller's deadline).
MAX_ROW_BYTES_LIMIT = 131_072

_REQUEST_FIELDS = tuple(f.name for f in dataclasses.fields(WriteRequest))
# A PendingRequest around its request: field names, ``arrived_at`` (a float: at most 24
# characters as JSON) and ``size_bytes`` (an int: at most 20), and the comma in its list.
_PENDING_FRAME = len('{"arrived_at":,"request":,"size_bytes":}') + 24 + 20 + 1


def encoded_size(value: Any) -> int:
    """Bytes of ``value``'s payload data as the batcher worker's JSON converter writes it
    (tests/batcher_service/shard/test_carry_bounds.py holds the two equal). Not through the
    converter itself: a shard sizes every request it takes, and a workflow activation has 2 s."""
    if isinstance(value, WriteRequest):  # its fields as they are: the row is not copied
        value = {name: getattr(value, name) for name in _REQUEST_FIELDS}
    text = json.dumps(value, cls=AdvancedJSONEncoder, separators=(",", ":"), sort_keys=True)
    return len(text)  # ASCII: the encoder escapes everything else


def item_size(value: Any) -> int:
    """Bytes ``value`` adds to a JSON list: its encoding and a comma."""
    return encoded_size(value) + 1


def pending_size(request: Any) -> int:
    """An upper bound on what a buffered request adds to the carried state, whenever it
    arrived: the PendingRequest and its id in the in-doubt list."""
    return encoded_size(request) + _PENDING_FRAME + item_size(request.request_id)


def newest_within(
    items: Sequence[T], budget: int, size: Callable[[Any], int] = item_size
) -> list[T]:
    """The newest items (the end of ``items``) whose sizes add up to at most ``budget``."""
    kept: list[T] = []
    total = 0
    for item in reversed(items):
        total += size(item)
        if total > budget:
            break
        kept.append(item)
    kept.reverse()
    return kept
