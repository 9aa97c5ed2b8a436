"""Property: every value either fits its column exactly or is refused; nothing is ever converted."""

from __future__ import annotations

import asyncio
import math
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from batcher_service.shard.state import BatcherConfig
from loadtest.verify import Verification
from tests.support import faults
from tests.support.column_oracle import FLOAT_EXACT, row_fits
from tests.support.write_support import SPECS, failure
from tests.support.write_workflows import WriteCall
from tests.write_batcher.test_write_batcher import DDL, workers
from write_batcher import InvalidInputError, RowValidationError, errors, strict_data_converter
from write_batcher.contract import WriteInput

# The table the workers below write (tests/support/write_support.py), for the oracle too.
SPEC = SPECS["strict"]
CONVERTER = strict_data_converter().payload_converter

INT8 = 2**63
unicode = st.text(st.characters(exclude_categories=()), max_size=80)  # NUL, lone surrogates
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([INT8 - 1, -INT8, INT8, -INT8 - 1, 2**53, 2**53 + 1, 0, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(numbers, unicode, st.booleans(), st.none())
values = st.one_of(
    scalars, st.lists(scalars, max_size=3), st.dictionaries(unicode, scalars, max_size=3)
)
rows = st.fixed_dictionaries(
    {"id": st.one_of(st.just("k"), values)},
    optional={"i8": values, "f8": values, "t": values, "b": values},
)
# Half near misses, half values that fit: both answers, written and refused, come up often.
fitting_rows = st.fixed_dictionaries(
    {"id": st.just("k")},
    optional={
        "i8": st.one_of(st.integers(min_value=-INT8, max_value=INT8 - 1), values),
        "f8": st.one_of(st.floats(), st.integers(min_value=-(2**53), max_value=2**53), values),
        "t": st.one_of(st.text(max_size=64), values),
        "b": st.one_of(st.booleans(), st.none(), values),
    },
)

# Only values that fit: the half of the real path's rows that must be written.
exact_rows = st.fixed_dictionaries(
    {"id": st.just("k")},
    optional={
        "i8": st.one_of(st.none(), st.integers(min_value=-INT8, max_value=INT8 - 1)),
        "f8": st.one_of(st.none(), st.floats(), st.integers(min_value=-(2**53), max_value=2**53)),
        "t": st.one_of(
            st.none(), st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=64)
        ),
        "b": st.one_of(st.none(), st.booleans()),
    },
)


def same(a: Any, b: Any) -> bool:
    """Equal and of the same type, all the way down (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def _through_the_wire(row: dict[str, Any]) -> dict[str, Any]:
    """The row as the write activity receives it: encoded by the workflow, decoded strictly."""
    sent = WriteInput("rid", "strict", row, None)
    [payload] = CONVERTER.to_payloads([sent])
    [received] = CONVERTER.from_payloads([payload], [WriteInput])
    assert isinstance(received, WriteInput)
    return received.row


@settings(max_examples=1500, deadline=None)
@given(rows)
def test_a_row_is_valid_verbatim_or_refused(row: dict[str, Any]) -> None:
    received = _through_the_wire(row)
    assert same(received, row), (row, received)
    # Both ways: what the oracle says fits is accepted, everything else is refused.
    expected = row_fits(SPEC, received)
    try:
        SPEC.validate(received)
    except RowValidationError as err:
        assert not expected, f"a fitting row was refused: {row!r}: {err}"
        return
    assert expected, f"a row that does not fit was accepted: {row!r}"


def test_both_answers_come_up() -> None:
    """The strategies above reach both sides, so neither direction is checked vacuously."""
    answers: set[bool] = set()

    @settings(max_examples=300, deadline=None, database=None)
    @given(fitting_rows)
    def sample(row: dict[str, Any]) -> None:
        answers.add(row_fits(SPEC, row))

    sample()
    assert answers == {True, False}


@dataclass
class Typed:
    n: int
    x: float
    s: str
    flag: bool


def _decodes(raw: dict[str, Any]) -> bool:
    """The oracle for Typed: exact kinds, an int for a float only when it is exact."""
    x = raw["x"]
    return (
        type(raw["n"]) is int
        and (type(x) is float or (type(x) is int and abs(x) <= FLOAT_EXACT))
        and type(raw["s"]) is str
        and type(raw["flag"]) is bool
    )


@settings(max_examples=1500, deadline=None)
@given(st.fixed_dictionaries({"n": values, "x": values, "s": values, "flag": values}))
def test_a_typed_input_decodes_exactly_or_fails_typed(raw: dict[str, Any]) -> None:
    [payload] = CONVERTER.to_payloads([raw])
    expected = _decodes(raw)
    try:
        [typed] = CONVERTER.from_payloads([payload], [Typed])
    except InvalidInputError as err:
        assert err.type == errors.INVALID_INPUT and err.non_retryable
        assert not expected, f"{raw!r} should have decoded: {err}"
        return
    assert expected, f"{raw!r} decoded as {typed!r}"
    assert same(typed.n, raw["n"]) and same(typed.s, raw["s"]) and same(typed.flag, raw["flag"])
    # The one widening: an int where a float is declared, exact (|n| <= 2**53).
    assert typed.x == raw["x"] or (math.isnan(typed.x) and math.isnan(raw["x"]))
    assert type(raw["x"]) in (int, float) and type(raw["x"]) is not bool


@pytest.fixture
async def pool(db_pool: asyncpg.Pool) -> asyncpg.Pool:
    await db_pool.execute(DDL)
    return db_pool


def stored_as_sent(stored: Any, sent: Any, kind: str) -> bool:
    """A column as PostgreSQL gives it back, against the value the workflow sent."""
    if kind == "float8" and sent is not None:
        # The one widening the spec allows: an exact int in a float8 column.
        return isinstance(stored, float) and (
            stored == sent or (math.isnan(stored) and math.isnan(sent))
        )
    return same(stored, sent)


async def test_the_real_write_path_writes_verbatim_or_refuses_at_once(
    temporal_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    """Rows through write(), the write activity on the batcher's queue and its intake's
    validation, into PostgreSQL: stored exactly as sent, or INVALID_WRITE within seconds."""
    loop = asyncio.get_running_loop()
    client = temporal_env.client
    config = BatcherConfig(min_interval_seconds=0.1)
    answers: list[bool] = []
    async with workers(client, pool, config) as queue:

        async def one(row: dict[str, Any]) -> None:
            row = {**row, "id": f"k-{uuid.uuid4().hex[:8]}"}
            call = WriteCall("strict", row, partition_key="p")
            try:
                await asyncio.wait_for(
                    client.execute_workflow("WriteOne", call, id=row["id"], task_queue=queue),
                    timeout=10,
                )
            except WorkflowFailureError as err:
                assert failure(err).type == errors.INVALID_WRITE, failure(err).message
                assert not row_fits(SPEC, row), f"a fitting row was refused: {row!r}"
                assert await pool.fetchrow("SELECT * FROM strict WHERE id = $1", row["id"]) is None
                answers.append(False)
                return
            assert row_fits(SPEC, row), f"a row that does not fit was written: {row!r}"
            answers.append(True)
            stored = await pool.fetchrow("SELECT * FROM strict WHERE id = $1", row["id"])
            assert stored is not None
            for name in ("i8", "f8", "t", "b"):
                kind = SPEC.column(name).type
                assert stored_as_sent(stored[name], row.get(name), kind), (name, stored, row)

        @settings(
            max_examples=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(st.one_of(exact_rows, fitting_rows))
        def check(row: dict[str, Any]) -> None:
            asyncio.run_coroutine_threadsafe(one(row), loop).result(timeout=30)

        await asyncio.to_thread(check)
    # Both directions were exercised through the real path, not one of them vacuously.
    assert True in answers and False in answers, answers
    stored = int(await pool.fetchval("SELECT count(*) FROM strict"))
    accepted = answers.count(True)
    faults.record(
        faults.GENERATED_VALUES,
        len(answers),
        Verification(accepted, stored, accepted - stored, 0, 0, 0),
        f"{accepted} stored verbatim, {answers.count(False)} refused at once as `InvalidWrite`",
    )
