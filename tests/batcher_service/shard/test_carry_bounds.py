"""What a batcher run carries into the next, every part at its bound at once, measured as the
batcher worker's converter encodes it: under 1 MiB (Temporal terminates a run past 2 MiB)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from temporalio.common import MetricMeter

from batcher_service.shard.buffer import RequestBuffer
from batcher_service.shard.carry import (
    CARRY_LIMIT,
    MAX_ROW_BYTES_LIMIT,
    PENDING_BYTES,
    encoded_size,
    pending_size,
)
from batcher_service.shard.carry import WITHDRAWN_BYTES as WITHDRAWN_SHARE
from batcher_service.shard.ledger import MAX_DELIVERIES, RequestLedger
from batcher_service.shard.metrics import BatcherMetrics
from batcher_service.shard.pacing import FlushPacer
from batcher_service.shard.settled import MAX_HELD, SettledAcks
from batcher_service.shard.state import (
    BatcherConfig,
    BatcherState,
    BatcherStats,
    Delivery,
    PendingRequest,
)
from batcher_service.shard.withdrawals import Withdrawals
from write_batcher import strict_data_converter, table_specs_from_dict
from write_batcher._validation import validate_write
from write_batcher.contract import WriteAck, WriteInput, WriteOutcome, WriteRequest
from write_batcher.testing import DEFAULT_MAX_ROW_BYTES

# Characters JSON writes as six bytes each (\uXXXX), and plain ones: the worst and the usual.
TEXT = st.sampled_from(["a", "\u00e9", "\x01", '"', "\u4e2d", "\U0001f600"])
ID_LENGTH = 128 + 64  # an idempotency key's maximum and a table name
NOW = 1_764_866_000.123456


def _id(char: str, n: int) -> str:
    tail = f"-{n}"
    return char * (ID_LENGTH - len(tail)) + tail


def _request(char: str, n: int, row_chars: int) -> WriteRequest:
    rid = _id(char, n)
    # The row as large as the intake lets through (MAX_ROW_BYTES of JSON text).
    row = {"account_id": rid, "note": char * row_chars}
    return WriteRequest(rid, "t" * 63, _id(char, n), rid, row, _id(char, n), _id(char, n))


def _ack(char: str, n: int) -> WriteAck:
    rid = _id(char, n)
    return WriteAck(rid, WriteOutcome.REJECTED, rid, rid, char * 2_000)


@settings(max_examples=12, deadline=None)
@given(char=TEXT, row_share=st.floats(0.0, 1.0))
def test_the_carried_state_stays_under_1_mib_with_every_part_at_its_bound(
    char: str, row_share: float
) -> None:
    row_chars = int(row_share * DEFAULT_MAX_ROW_BYTES / len(char.encode()))
    config = BatcherConfig(max_pending=10**9, dedup_window=10**6)
    buffer = RequestBuffer([], [], config.dedup_window)
    withdrawals = Withdrawals([], [], [])
    settled = SettledAcks([])
    stats = BatcherStats(*(10**15 for _ in range(17)), 10**9, 10**9)
    ledger = RequestLedger(
        config,
        buffer=buffer,
        settled=settled,
        withdrawals=withdrawals,
        stats=stats,
        pacer=FlushPacer(config, NOW, 10**9),
        metrics=BatcherMetrics(MetricMeter.noop, "shard"),
    )
    # The buffer until the shard refuses, half of it in flight (a failing flush hands it back).
    refused = stats.overloaded_rejections
    inflight: list[WriteRequest] = []
    n = 0
    while stats.overloaded_rejections == refused:
        ledger.accept(_request(char, n, row_chars), NOW)
        n += 1
        if not inflight and buffer.bytes >= PENDING_BYTES // 2:
            inflight = buffer.take(10**6, 10**9)
    assert inflight
    buffer.requeue(inflight, NOW)
    assert buffer.bytes <= PENDING_BYTES
    # Written ids far past the window, acks and answers owed past their counts, long errors.
    for i in range(3_000):
        buffer.settle([_request(char, 10**6 + i, 0)], [])
        settled.add(_ack(char, 10**6 + i), NOW)
    for i in range(MAX_DELIVERIES + 100):
        ack = _ack(char, 2 * 10**6 + i)
        ledger.owe([Delivery(_id(char, i), _id(char, i), _id(char, i), ack, overloaded=True)])
    # Withdrawals not yet recorded, answered and to be settled, until the shard takes no more.
    i = 0
    while not withdrawals.full():
        rid = _id(char, 3 * 10**6 + i)
        (withdrawals.add if i % 2 else withdrawals.settle)(rid, "t" * 63)
        i += 1
    pending = buffer.pending()
    state = BatcherState(
        pending=pending,
        recent_request_ids=buffer.recent(),
        settled=ledger.carried_acks(NOW),
        deliveries=ledger.carried_deliveries(),
        withdrawn=withdrawals.withdrawn(),
        settling=withdrawals.settling_requests(),
        stats=stats,
        last_flush_started_at=NOW,
        shutting_down=True,
        arrival_rate=1e300,
        failed_flushes_in_a_row=10**12,
        in_doubt=[p.request.request_id for p in pending],
        config=config,
    )
    payload = strict_data_converter().payload_converter.to_payloads([state])[0]
    print(f"carried state: {payload.ByteSize()} bytes ({char!r}, rows {row_chars} chars)")
    assert payload.ByteSize() < CARRY_LIMIT, payload.ByteSize()
    # Each part is really at its bound, not trivially small.
    held = encoded_size(pending) + encoded_size(state.in_doubt)
    # (The bound on a request's size leaves room for the longest float and int: a few %.)
    # A request that did not fit is at most one request short of the share.
    assert held > 0.95 * PENDING_BYTES - pending_size(pending[0].request), held
    assert len(state.settled) < MAX_HELD
    unrecorded = encoded_size(state.withdrawn) + encoded_size(state.settling)
    assert 0.9 * WITHDRAWN_SHARE < unrecorded < WITHDRAWN_SHARE + 1_000, unrecorded


def test_sizes_are_those_the_workers_converter_writes() -> None:
    converter = strict_data_converter().payload_converter
    for char in ("a", "\x01", '"', "\u00e9", "\U0001f600"):
        request = _request(char, 3, 50)
        values = [request, request.request_id, _ack(char, 1), [request], {"n": 1.5, "k": None}]
        values.append(Delivery(_id(char, 1), _id(char, 2), _id(char, 3), _ack(char, 4)))
        for value in values:
            assert encoded_size(value) == len(converter.to_payloads([value])[0].data), value


def test_a_pending_request_is_never_bigger_than_its_size() -> None:
    for char in ("a", "\x01", "\U0001f600"):
        request = _request(char, 7, 100)
        for arrived in (0.0, NOW, -1.2345678901234567e308, 1 / 3):
            item = PendingRequest(request, arrived, 10**19)
            assert encoded_size([item]) + encoded_size([request.request_id]) - 2 <= pending_size(
                request
            )


@settings(max_examples=12, deadline=None)
@given(char=TEXT)
def test_any_row_the_intake_may_accept_fits_an_empty_shard(char: str) -> None:
    # The largest row the intake's own check lets through at the largest MAX_ROW_BYTES a
    # worker starts with, made of characters the shard stores escaped.
    table = "t" * 63
    specs = table_specs_from_dict(
        {
            "tables": {
                table: {"key": ["account_id"], "columns": {"account_id": "text", "note": "text"}}
            }
        }
    )

    def intake(note_chars: int) -> tuple[WriteRequest, int]:
        row = {"account_id": _id(char, 1), "note": char * note_chars}
        write = WriteInput(_id(char, 1), table, row, None)
        return validate_write(
            specs, write, max_row_bytes=MAX_ROW_BYTES_LIMIT, caller_workflow_id=_id(char, 1),
            caller_run_id=_id(char, 2), caller_activity_id=_id(char, 3),
        )  # fmt: skip

    base = intake(0)[1]
    per_char = intake(1)[1] - base
    request, size = intake((MAX_ROW_BYTES_LIMIT - base) // per_char)
    assert MAX_ROW_BYTES_LIMIT - per_char < size <= MAX_ROW_BYTES_LIMIT
    config = BatcherConfig()
    buffer = RequestBuffer([], [], config.dedup_window)
    stats = BatcherStats()
    ledger = RequestLedger(
        config,
        buffer=buffer,
        settled=SettledAcks([]),
        withdrawals=Withdrawals([], [], []),
        stats=stats,
        pacer=FlushPacer(config, None, 0.0),
        metrics=BatcherMetrics(MetricMeter.noop, "shard"),
    )
    ledger.accept(request, NOW)
    assert (len(buffer), stats.overloaded_rejections) == (1, 0)
