"""Update handlers waiting for their writes: the acks flushes owe them, by request id."""

from __future__ import annotations

from collections.abc import Iterable

from shared import errors
from shared.payloads import AddressedAck, FlushInput, WriteAck, WriteOutcome


class AckWaiters:
    """Deterministic workflow state: which request ids an update waits on, and their answers.

    A request id may be awaited more than once (a caller's retried update while the first is
    still waiting); each waiter collects the same answer.
    """

    def __init__(self) -> None:
        self._waiting: dict[str, int] = {}
        self._answers: dict[str, WriteAck] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._waiting

    def expect(self, request_id: str) -> None:
        self._waiting[request_id] = self._waiting.get(request_id, 0) + 1

    def unanswered(self, request_ids: Iterable[str]) -> list[str]:
        return [r for r in request_ids if r in self._waiting and r not in self._answers]

    def answer(self, ack: WriteAck) -> bool:
        """Records the first answer for an awaited id; False when nobody waits for it."""
        rid = ack.request_id
        if rid not in self._waiting:
            return False
        self._answers.setdefault(rid, ack)
        return True

    def answered(self, request_ids: Iterable[str]) -> bool:
        return all(r in self._answers for r in request_ids)

    def collect(self, request_ids: Iterable[str]) -> dict[str, WriteAck]:
        """The answers for one waiter, which stops waiting for them."""
        acks: dict[str, WriteAck] = {}
        for rid in request_ids:
            acks[rid] = self._answers[rid]
            left = self._waiting[rid] - 1
            if left:
                self._waiting[rid] = left
            else:
                del self._waiting[rid]
                del self._answers[rid]
        return acks

    def answer_flush(
        self, flush: FlushInput, acks: list[AddressedAck], rejected_ids: list[str]
    ) -> list[AddressedAck]:
        """Answers the updates waiting on a flush's requests; returns the acks to signal."""
        replies = set(flush.reply_ids)
        for item in acks:
            self.answer(item.ack)
        # An update may wait on a copy of a request that came by signal: that signal's caller
        # gets the full ack, the update the outcome.
        rejected = set(rejected_ids)
        for rid in self.unanswered(r.request_id for r in flush.requests):
            outcome = WriteOutcome.REJECTED if rid in rejected else WriteOutcome.ALREADY_WRITTEN
            error_type = errors.BAD_BATCH if rid in rejected else None
            self.answer(WriteAck(rid, outcome, flush.batch_id, error_type))
        return [a for a in acks if a.ack.request_id not in replies]
