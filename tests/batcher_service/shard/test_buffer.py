"""The batcher's buffer against a brute-force model, over generated sequences of operations."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from batcher_service.shard.buffer import RequestBuffer, Seen
from write_batcher.contract import WriteRequest

OPS = st.lists(
    st.tuples(
        st.sampled_from(["add", "take", "settle", "requeue", "withdraw"]),
        st.integers(0, 5),
        st.integers(0, 30),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(ops=OPS)
def test_takeable_and_key_exclusion_match_a_brute_force_model(
    ops: list[tuple[str, int, int]],
) -> None:
    buffer = RequestBuffer([], [], window=100)
    flights: list[list[WriteRequest]] = []
    serial = 0
    for op, key, n in ops:
        if op == "add":
            serial += 1
            buffer.add(WriteRequest(f"r{serial}", "t", "c", f"k{key}", {"n": n}), 0.0)
        elif op == "take":
            batch = buffer.take(max(n % 4, 1), 10_000)
            held = {r.partition_key for f in flights for r in f}
            # Never a key that another flush holds.
            assert not held & {r.partition_key for r in batch}
            if batch:
                flights.append(batch)
        elif op in ("settle", "requeue") and flights:
            batch = flights.pop(n % len(flights))
            if op == "settle":
                buffer.settle(batch, [])
            else:
                buffer.requeue(batch, 0.0)
        elif op == "withdraw" and serial:
            rid = f"r{n % serial + 1}"
            was = buffer.seen(rid)
            assert (buffer.withdraw(rid) is not None) == (was is Seen.PENDING)
        held = {r.partition_key for f in flights for r in f}
        model = any(p.request.partition_key not in held for p in buffer.pending())
        assert buffer.takeable() == model
