"""What a batcher remembers of withdrawals until the request table holds them, and of doubts."""

from __future__ import annotations

from collections.abc import Iterable

from batcher_service.shard.carry import WITHDRAWN_BYTES, item_size
from batcher_service.shard.state import WithdrawnRequest

# Withdrawals not yet in the request table (answered, or to be settled there), in encoded
# bytes: carried whole through continue-as-new, never trimmed (carry.py's share). Past it a
# withdrawal is answered "in flight: ask again" until a record drains them: a database down
# that long leaves further callers' withdrawals unsettled (outcome unknown), never unsafe.
MAX_UNRECORDED_BYTES = WITHDRAWN_BYTES
# Ids one record activity takes (its input is one history event; ids are <= 200 chars).
RECORD_BATCH = 500


class Withdrawals:
    """Deterministic workflow state; the unrecorded sets are carried through continue-as-new.

    The request table is the lasting record: a withdrawn id is written there ("withdrawn")
    and every later copy is refused by the flush's statement. These sets only cover the time
    until a record activity has written them.
    """

    def __init__(
        self,
        withdrawn: list[WithdrawnRequest],
        settling: list[WithdrawnRequest],
        in_doubt: list[str],
    ) -> None:
        # Answered "withdrawn": a copy is refused here until the request table holds it.
        self._withdrawn = {w.request_id: w.table for w in withdrawn}
        # Asked to withdraw what only the request table can settle: withdrawn unless written.
        self._settling = {w.request_id: w.table for w in settling}
        self._in_doubt = set(in_doubt)
        self._bytes = sum(
            _size(rid, t) for rid, t in [*self._withdrawn.items(), *self._settling.items()]
        )
        # Asked while their write was in a flush: settled when that flush ends.
        self._asked: set[str] = set()

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._withdrawn

    def settling(self, request_id: str) -> bool:
        return request_id in self._settling

    def full(self) -> bool:
        return self._bytes >= MAX_UNRECORDED_BYTES

    def add(self, request_id: str, table: str) -> None:
        """Answered withdrawn: to be recorded."""
        if request_id not in self._withdrawn:
            self._bytes += _size(request_id, table)
        self._withdrawn[request_id] = table
        self._in_doubt.discard(request_id)

    def settle(self, request_id: str, table: str) -> None:
        """To be settled by the request table: recorded withdrawn unless written before."""
        if request_id not in self._settling:
            self._bytes += _size(request_id, table)
        self._settling[request_id] = table
        self._in_doubt.discard(request_id)

    def unrecorded(self) -> bool:
        return bool(self._withdrawn or self._settling)

    def to_record(self) -> list[WithdrawnRequest]:
        """The next record's ids: those a caller waits on first."""
        queued = [*self._settling.items(), *self._withdrawn.items()][:RECORD_BATCH]
        return [WithdrawnRequest(rid, table) for rid, table in queued]

    def recorded(self, request_id: str) -> bool | None:
        """The request table settled it: True if it had been answered withdrawn already,
        False if it was settling, None if neither."""
        if (table := self._withdrawn.pop(request_id, None)) is not None:
            self._bytes -= _size(request_id, table)
            return True
        if (table := self._settling.pop(request_id, None)) is not None:
            self._bytes -= _size(request_id, table)
            return False
        return None

    def ask(self, request_id: str) -> None:
        self._asked.add(request_id)

    def asked(self, request_id: str) -> bool:
        return request_id in self._asked

    def unask(self, request_id: str) -> bool:
        if request_id not in self._asked:
            return False
        self._asked.discard(request_id)
        return True

    def in_doubt(self, request_id: str) -> bool:
        return request_id in self._in_doubt

    def doubt(self, request_ids: Iterable[str]) -> None:
        self._in_doubt.update(request_ids)

    def settled(self, request_ids: Iterable[str]) -> None:
        self._in_doubt.difference_update(request_ids)

    def withdrawn(self) -> list[WithdrawnRequest]:
        return [WithdrawnRequest(rid, table) for rid, table in self._withdrawn.items()]

    def settling_requests(self) -> list[WithdrawnRequest]:
        return [WithdrawnRequest(rid, table) for rid, table in self._settling.items()]

    def doubted(self, pending: Iterable[str]) -> list[str]:
        """The in-doubt ids still pending: the only ones worth carrying over."""
        return sorted(self._in_doubt.intersection(pending))


def _size(request_id: str, table: str) -> int:
    return item_size(WithdrawnRequest(request_id, table))
