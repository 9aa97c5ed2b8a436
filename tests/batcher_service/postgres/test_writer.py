"""The bulk writer against a real PostgreSQL: modes, exactly-once, bisection, dead letters."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from batcher_service.names import DEAD_LETTER_TABLE, REQUEST_TABLE
from batcher_service.postgres.catalog import TableSpecMismatch, check_specs
from batcher_service.postgres.dead_letter_store import decode_request
from batcher_service.postgres.retention import prune_once
from batcher_service.postgres.writer import BatchWriter, DatabaseUnavailable
from devstack.ports import free_port
from tests.support.writer_tables import SPECS, create_tables
from write_batcher import errors, table_specs_from_dict
from write_batcher.contract import WriteOutcome, WriteRequest


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await create_tables(database_url)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=3)
    assert pool is not None
    yield pool
    await pool.close()


def req(rid: str, table: str, row: dict[str, object], key: str | None = None) -> WriteRequest:
    return WriteRequest(rid, table, f"caller-{rid}", key or rid, row)


async def test_insert_mode_writes_once_and_reports_each_request(pool: asyncpg.Pool) -> None:
    writer = BatchWriter(pool, SPECS)
    first = await writer.write(
        "b1",
        [
            req("r1", "accounts", {"account_id": "a", "balance": 5}),
            req("r2", "accounts", {"account_id": "b", "balance": 7, "note": "x"}),
            # Same key as r1 in the same batch: the first write to a key wins.
            req("r3", "accounts", {"account_id": "a", "balance": 9}),
        ],
    )
    assert {r: a.outcome for r, a in first.acks.items()} == {
        "r1": WriteOutcome.WRITTEN,
        "r2": WriteOutcome.WRITTEN,
        "r3": WriteOutcome.KEY_EXISTS,
    }
    assert first.statements == 1
    # A retried flush (same batch id) gives the same answers and writes nothing again.
    again = await writer.write("b1", [req("r1", "accounts", {"account_id": "a", "balance": 5})])
    assert again.acks["r1"].outcome is WriteOutcome.WRITTEN
    # A resend in another batch is already written; a new request for an existing key is not.
    later = await writer.write(
        "b2",
        [
            req("r2", "accounts", {"account_id": "b", "balance": 7, "note": "x"}),
            req("r4", "accounts", {"account_id": "b", "balance": 1}),
        ],
    )
    assert later.acks["r2"].outcome is WriteOutcome.ALREADY_WRITTEN
    assert later.acks["r2"].batch_id == "b1"
    assert later.acks["r4"].outcome is WriteOutcome.KEY_EXISTS
    rows = await pool.fetch("SELECT account_id, balance, note FROM accounts ORDER BY 1")
    assert [tuple(r) for r in rows] == [("a", 5, None), ("b", 7, "x")]
    recorded = await pool.fetchval(f"SELECT count(*) FROM {REQUEST_TABLE}")
    assert recorded == 4


async def test_upsert_keeps_the_last_write_to_a_key(pool: asyncpg.Pool) -> None:
    writer = BatchWriter(pool, SPECS)
    report = await writer.write(
        "b1",
        [
            req("u1", "profiles", {"user_id": 1, "name": "first"}),
            req("u2", "profiles", {"user_id": 2, "name": "other", "score": 1.5}),
            req("u3", "profiles", {"user_id": 1, "name": "second", "score": float("nan")}),
        ],
    )
    assert report.acks["u1"].outcome is WriteOutcome.SUPERSEDED
    assert report.acks["u3"].outcome is WriteOutcome.WRITTEN
    update = await writer.write("b2", [req("u4", "profiles", {"user_id": 2, "name": "new"})])
    assert update.acks["u4"].outcome is WriteOutcome.WRITTEN
    rows = await pool.fetch("SELECT user_id, name, score, written_by FROM profiles ORDER BY 1")
    assert rows[0]["name"] == "second" and rows[0]["score"] != rows[0]["score"]  # NaN
    assert (rows[1]["name"], rows[1]["score"], rows[1]["written_by"]) == ("new", None, "b2")


async def test_append_writes_every_request_once(pool: asyncpg.Pool) -> None:
    writer = BatchWriter(pool, SPECS)
    batch = [
        req(f"e{i}", "events", {"kind": "k", "payload": {"i": i, "s": "é"}, "amount": i})
        for i in range(5)
    ]
    await writer.write("b1", batch)
    await writer.write("b1", batch)  # a retried flush
    report = await writer.write("b2", batch)  # resent in a new batch
    assert {a.outcome for a in report.acks.values()} == {WriteOutcome.ALREADY_WRITTEN}
    assert await pool.fetchval("SELECT count(*) FROM events") == 5


async def test_bad_rows_are_bisected_out_and_kept_as_dead_letters(pool: asyncpg.Pool) -> None:
    writer = BatchWriter(pool, SPECS)
    good = [req(f"g{i}", "accounts", {"account_id": f"g{i}", "balance": i}) for i in range(20)]
    bad_check = req("bad1", "accounts", {"account_id": "neg", "balance": -1})
    bad_nul = req("bad2", "accounts", {"account_id": "nul\x00", "balance": 1})
    bad_table = req("bad3", "nope", {"x": 1})
    batch = [*good[:7], bad_check, *good[7:13], bad_nul, bad_table, *good[13:]]
    report = await writer.write("b1", batch)
    for r in good:
        assert report.acks[r.request_id].outcome is WriteOutcome.WRITTEN
    assert report.acks["bad1"].outcome is WriteOutcome.REJECTED
    assert report.acks["bad1"].error_type == "CheckViolationError"
    assert report.acks["bad2"].error_type == errors.INVALID_WRITE
    assert report.acks["bad3"].error_type == errors.UNKNOWN_TABLE
    assert report.dead_lettered == 3 and report.dead_letter_failures == 0
    assert await pool.fetchval("SELECT count(*) FROM accounts") == 20
    stored = await pool.fetch(f"SELECT request_id, request FROM {DEAD_LETTER_TABLE} ORDER BY 1")
    assert [r["request_id"] for r in stored] == ["bad1", "bad2", "bad3"]
    # The payload round-trips exactly, NUL included.
    assert decode_request(stored[1]["request"]) == bad_nul


async def test_a_statement_level_error_rejects_without_endless_bisection(
    pool: asyncpg.Pool,
) -> None:
    await pool.execute("DROP TABLE events")
    writer = BatchWriter(pool, SPECS)
    batch = [req(f"e{i}", "events", {"kind": "k"}) for i in range(16)]
    report = await writer.write("b1", batch)
    assert {a.outcome for a in report.acks.values()} == {WriteOutcome.REJECTED}
    assert report.statements <= 3


async def test_unreachable_database_is_a_connection_error() -> None:
    pool = await asyncpg.create_pool(
        f"postgresql://postgres@127.0.0.1:{free_port()}/x", min_size=0, timeout=2
    )
    assert pool is not None
    try:
        with pytest.raises(DatabaseUnavailable):
            await BatchWriter(pool, SPECS).write("b", [req("r", "accounts", {})])
    finally:
        await pool.close()


async def test_specs_are_checked_against_the_catalog(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await check_specs(conn, SPECS)
        wrong = table_specs_from_dict(
            {
                "tables": {
                    "accounts": {
                        "key": ["balance"],
                        "columns": {"account_id": "int8", "balance": "int8", "extra": "text"},
                    }
                }
            }
        )
        with pytest.raises(TableSpecMismatch) as caught:
            await check_specs(conn, wrong)
    message = str(caught.value)
    assert "accounts.account_id is text" in message
    assert "no column 'extra'" in message
    assert "no unique index on exactly (balance)" in message


@pytest.mark.parametrize(
    ("column_type", "spec", "problem"),
    [
        (
            "varchar(10)",
            {"type": "text", "max_length": 50},
            "varchar(10), the spec allows max_length 50",
        ),
        ("varchar(10)", "text", "varchar(10), the spec allows any length"),
        ("char(3)", {"type": "text", "max_length": 4}, "bpchar(3), the spec allows max_length 4"),
        ("numeric(12, 2)", "int8", "numeric(12, 2), too narrow for every int8"),
        ("numeric(10, 2)", "numeric", "numeric(10, 2), the spec's numeric has no such bound"),
        # What fits is allowed: the same or a wider bound, and safe widenings.
        ("varchar(10)", {"type": "text", "max_length": 10}, None),
        ("char(3)", {"type": "text", "max_length": 3}, None),
        ("numeric(21, 2)", "int8", None),
        ("numeric", "numeric", None),
        ("int8", "int4", None),
        ("text", {"type": "text", "max_length": 10_000}, None),
    ],
)
async def test_a_spec_that_lets_through_what_the_column_cannot_hold_is_refused(
    pool: asyncpg.Pool, column_type: str, spec: object, problem: str | None
) -> None:
    await pool.execute(f"CREATE TABLE bounded (id text PRIMARY KEY, v {column_type})")
    specs = table_specs_from_dict(
        {"tables": {"bounded": {"key": ["id"], "columns": {"id": "text", "v": spec}}}}
    )
    async with pool.acquire() as conn:
        if problem is None:
            await check_specs(conn, specs)
            return
        with pytest.raises(TableSpecMismatch) as caught:
            await check_specs(conn, specs)
    assert str(caught.value) == f"bounded.v is {problem}"


async def test_failed_dead_lettering_still_rejects_and_is_counted(pool: asyncpg.Pool) -> None:
    await pool.execute(
        f"ALTER TABLE {DEAD_LETTER_TABLE} ADD CONSTRAINT refuse_all CHECK (false) NOT VALID"
    )
    writer = BatchWriter(pool, SPECS)
    report = await writer.write(
        "b1",
        [
            req("ok", "accounts", {"account_id": "ok", "balance": 1}),
            req("neg", "accounts", {"account_id": "neg", "balance": -1}),
        ],
    )
    assert report.acks["ok"].outcome is WriteOutcome.WRITTEN
    assert report.acks["neg"].outcome is WriteOutcome.REJECTED
    assert (report.dead_lettered, report.dead_letter_failures) == (0, 1)
    assert await pool.fetchval("SELECT count(*) FROM accounts") == 1


async def test_request_table_is_pruned_past_the_retention(pool: asyncpg.Pool) -> None:
    writer = BatchWriter(pool, SPECS)
    await writer.write("b1", [req(f"e{i}", "events", {"kind": "k"}) for i in range(5)])
    await pool.execute(
        f"UPDATE {REQUEST_TABLE} SET recorded_at = now() - interval '3 hours' "
        "WHERE request_id IN ('e0', 'e1')"
    )
    assert await prune_once(pool, retention_hours=2) == 2
    left = await pool.fetch(f"SELECT request_id FROM {REQUEST_TABLE} ORDER BY 1")
    assert [r["request_id"] for r in left] == ["e2", "e3", "e4"]
