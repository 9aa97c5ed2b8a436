"""Bad input through the real path: no write waits forever, no shard stops, nothing coerced."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import Client

from batcher_service.names import DEAD_LETTER_TABLE, REQUEST_TABLE
from batcher_service.shard.state import BatcherConfig
from loadtest.verify import Verification
from tests.conftest import start_dev_server
from tests.support import faults
from tests.support.batcher_support import shard
from tests.support.column_oracle import fits
from tests.support.faults import record
from tests.support.harness import eventually
from tests.support.writer_tables import SPECS, create_tables
from write_batcher import WriteResult, errors
from write_batcher.contract import WriteOutcome, WriteRequest


@pytest.fixture
async def pool(db_pool: asyncpg.Pool, database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await create_tables(database_url)
    yield db_pool


@pytest.fixture(scope="module")
async def rolling_env() -> AsyncIterator[Client]:
    """A dev server that suggests continue-as-new early, so runs roll over during a test."""
    env = await start_dev_server("limit.historyCount.suggestContinueAsNew=80")
    yield env.client
    await env.shutdown()


def _small_runs() -> BatcherConfig:
    # A run ends after 3 signals: however many writes the intake coalesces into one signal
    # under load, each test's writes span runs.
    return BatcherConfig(
        mode="fixed", max_batch_size=10, max_wait_seconds=0.3, max_signals_per_run=3
    )


async def test_poison_rows_in_several_flushes_then_continue_as_new(
    rolling_env: Client, pool: asyncpg.Pool
) -> None:
    async with shard(rolling_env, pool, _small_runs()) as s:
        good = [{"account_id": f"g{i}", "balance": i} for i in range(90)]
        # Refused by PostgreSQL (CHECK balance >= 0), not by the caller's validation.
        poison = [{"account_id": f"p{i}", "balance": -1 - i} for i in range(6)]
        calls = [s.write("accounts", r) for r in good[:30]]
        calls += [s.write("accounts", r) for r in poison[:3]]
        first = asyncio.gather(*calls)

        async def flushed() -> bool:
            return bool(await pool.fetchval("SELECT count(*) FROM accounts"))

        await eventually(flushed)  # the next poison rows land in later flushes
        rest = asyncio.gather(
            *(s.write("accounts", r) for r in good[30:] + poison[3:]),
        )
        # A caller that skips validation: NUL and a lone surrogate reach the batcher itself.
        raw = [
            WriteRequest(f"raw-{i}", "accounts", "nobody", f"raw-{i}", row)
            for i, row in enumerate(
                [{"account_id": "nul\x00", "balance": 1}, {"account_id": "\ud800", "balance": 1}]
            )
        ]
        await s.signal(*raw)
        outcomes = list(await first) + list(await rest)
        written = [o for o in outcomes if isinstance(o, WriteResult)]
        assert len(written) == 90 and {o.outcome for o in written} == {WriteOutcome.WRITTEN}
        assert sorted(o for o in outcomes if isinstance(o, str)) == [errors.WRITE_REJECTED] * 6
        stats = await s.stats()
        assert stats.runs >= 2, stats
        # The shard still flushes after all of it.
        again = await s.write("accounts", {"account_id": "after", "balance": 1})
        assert isinstance(again, WriteResult) and again.outcome is WriteOutcome.WRITTEN
    rows = await pool.fetchval("SELECT count(*) FROM accounts")
    records = await pool.fetchval(
        f"SELECT count(*) FROM {REQUEST_TABLE} WHERE table_name = 'accounts'"
    )
    dead = await pool.fetch(f"SELECT error_type, batch_id FROM {DEAD_LETTER_TABLE}")
    assert rows == 91 and records == 91
    # The poison arrived over several flushes, not in one batch.
    poisoned_batches = len({r["batch_id"] for r in dead})
    assert poisoned_batches >= 2, dead
    assert (
        sorted(r["error_type"] for r in dead)
        == ["CheckViolationError"] * 6 + [errors.INVALID_WRITE] * 2
    )
    record(
        faults.POISON_ROWS,
        91,
        Verification(91, int(rows), 91 - int(rows), int(records) - int(rows), 0, 0),
        f"90 + 1 acked written, 6 WriteRejected, {len(dead)} dead letters from "
        f"{poisoned_batches} flushes, {stats.runs} runs",
    )


# Any value a caller might put in a column: all of Unicode (NUL, lone surrogates), integers
# far past int8, floats with NaN and infinities, wrong types, empty and oversized strings.
VALUES = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=120),
    st.text(max_size=3),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63 - 1, -(2**63), 2**63, 2**31 - 1, -(2**31), 2**31]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
)
COLUMNS = ["t", "i8", "i4", "f8", "b", "j"]


def _json_equal(a: Any, b: Any) -> bool:
    """JSON values equal; numbers by value (jsonb keeps numbers as numeric, 1e308 included)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _same(column: str, sent: Any, stored: Any) -> bool:
    if sent is None or stored is None:
        return sent is None and stored is None
    if column == "j":
        return _json_equal(json.loads(stored), sent)
    if column == "f8":
        # An int is exact as a float8 (larger ones are refused): the same number.
        if math.isnan(sent):
            return isinstance(stored, float) and math.isnan(stored)
        return isinstance(stored, float) and stored == float(sent)
    return bool(stored == sent and type(stored) is type(sent))


async def test_any_value_is_written_verbatim_or_refused_with_a_type(
    rolling_env: Client, pool: asyncpg.Pool
) -> None:
    cases: list[tuple[str, Any]] = []

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(column=st.sampled_from(COLUMNS), value=VALUES)
    def collect(column: str, value: Any) -> None:
        cases.append((column, value))

    collect()
    spec = SPECS["samples"]
    async with shard(rolling_env, pool, _small_runs()) as s:

        async def one(i: int, column: str, value: Any) -> None:
            row = {"id": f"case-{i}", column: value}
            # The oracle, not the validator under test, says which answer is right.
            valid = fits(spec.column(column), value)
            bad, good = await asyncio.gather(
                s.write("samples", row), s.write("samples", {"id": f"good-{i}", "i8": i})
            )
            assert isinstance(good, WriteResult), (column, value, good)
            if not valid:
                assert bad == errors.INVALID_WRITE, (column, value, bad)
                return
            assert isinstance(bad, WriteResult), (column, value, bad)
            stored = await pool.fetchval(f"SELECT {column} FROM samples WHERE id = $1", row["id"])
            assert _same(column, value, stored), (column, value, stored)

        await asyncio.gather(*(one(i, c, v) for i, (c, v) in enumerate(cases)))
        assert (await s.stats()).runs >= 2
    # Both answers came up: neither direction passed for want of a case.
    accepted = sum(fits(spec.column(c), v) for c, v in cases)
    assert 0 < accepted < len(cases), (accepted, len(cases))
    goods = await pool.fetchval("SELECT count(*) FROM samples WHERE id LIKE 'good-%'")
    assert goods == len(cases)
    dupes = await pool.fetchval(
        f"SELECT count(*) - count(DISTINCT row_key) FROM {REQUEST_TABLE} "
        "WHERE table_name = 'samples'"
    )
    assert dupes == 0
