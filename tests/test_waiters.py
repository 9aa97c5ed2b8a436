"""The batcher's record of updates waiting on their writes' acks."""

from __future__ import annotations

from batcher_service.waiters import AckWaiters
from shared.payloads import WriteAck, WriteOutcome


def test_every_waiter_of_an_id_collects_the_first_answer() -> None:
    waiters = AckWaiters()
    waiters.expect("a")
    waiters.expect("a")  # a retried update waits on the same write
    waiters.expect("b")
    assert not waiters.answer(WriteAck("c", WriteOutcome.WRITTEN)), "nobody waits for c"
    assert waiters.unanswered(["a", "b", "c"]) == ["a", "b"]
    assert waiters.answer(WriteAck("a", WriteOutcome.WRITTEN, "batch-1"))
    waiters.answer(WriteAck("a", WriteOutcome.ALREADY_WRITTEN, "batch-2"))
    assert not waiters.answered(["a", "b"])
    waiters.answer(WriteAck("b", WriteOutcome.REJECTED, "batch-1", "BadBatch"))
    assert waiters.answered(["a", "b"])
    first = waiters.collect(["a", "b"])
    assert first["a"].batch_id == "batch-1" and first["b"].outcome is WriteOutcome.REJECTED
    assert len(waiters) == 1 and "a" in waiters and "b" not in waiters
    assert waiters.collect(["a"])["a"].batch_id == "batch-1"
    assert len(waiters) == 0
