"""The acks a batcher holds for collection, against a model, over generated operations."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from batcher_service.shard import settled as settled_module
from batcher_service.shard.carry import SETTLED_BYTES, encoded_size
from batcher_service.shard.settled import CARRY_SECONDS, HOLD_SECONDS, SettledAcks
from write_batcher.contract import WriteAck, WriteOutcome

OPS = st.lists(
    st.tuples(st.integers(0, 40), st.floats(0, 30, allow_nan=False), st.booleans()),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(ops=OPS)
def test_an_ack_is_held_for_its_hold_time_and_the_latest_answer_wins(
    ops: list[tuple[int, float, bool]],
) -> None:
    acks = SettledAcks([])
    model: dict[str, tuple[WriteAck, float]] = {}
    now = 0.0
    for n, step, rejected in ops:
        now += step
        outcome = WriteOutcome.REJECTED if rejected else WriteOutcome.WRITTEN
        ack = WriteAck(f"r{n}", outcome, f"b{now}")
        acks.add(ack, now)
        model[ack.request_id] = (ack, now)
        for rid, (held, at) in model.items():
            # Off the boundary: float rounding may put an ack exactly at it either side.
            if now - at < HOLD_SECONDS - 1e-6:
                assert acks.get(rid) == held, rid
            elif now - at > HOLD_SECONDS + 1e-6:
                assert acks.get(rid) is None, rid
    # What continue-as-new carries: the newest answers only, each the latest for its id.
    carried = SettledAcks(acks.carry(now))
    for rid, (held, at) in model.items():
        if now - at < CARRY_SECONDS - 1e-6:
            assert carried.get(rid) == held
        elif now - at > HOLD_SECONDS + 1e-6:
            assert carried.get(rid) is None


def test_the_store_and_what_it_carries_stay_bounded() -> None:
    acks = SettledAcks([])
    limit = settled_module.MAX_HELD
    for i in range(limit + 500):
        acks.add(WriteAck(f"r{i}", WriteOutcome.WRITTEN, "b"), 0.0)
    assert len(acks) == limit
    assert acks.get("r0") is None and acks.get(f"r{limit + 499}") is not None
    carried = acks.carry(0.0)
    # Measured as the worker's converter encodes the list the next run receives.
    assert 0 < encoded_size(carried) <= SETTLED_BYTES
    # The newest ones are the ones carried.
    assert carried[-1].ack.request_id == f"r{limit + 499}"
