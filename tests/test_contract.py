"""The shared contract: settings, routing, request ids, partition keys, the plugin's checks."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from batcher_service.settings import BatcherSettings
from main_service.settings import MainSettings
from tests.write_support import SPECS
from write_batcher import TableSpecError, WriteBatchingPlugin
from write_batcher._ids import (
    MAX_REQUEST_ID_CHARS,
    InvalidRowError,
    canonical_json,
    default_partition_key,
    keyed_request_id,
    request_id,
)
from write_batcher._routing import shard_for
from write_batcher_kit.settings import SettingsError

TABLES = {
    "WRITE_TABLES_FILE": str(
        Path(__file__).parent.parent / "main-service" / "main_service" / "tables.yaml"
    )
}
DB = {**TABLES, "DATABASE_URL": "postgresql://u@localhost/db"}


def test_defaults_and_overrides() -> None:
    main = MainSettings.from_env({**TABLES, "ACK_TIMEOUT_SECONDS": "5", "BATCHER_SHARDS": "4"})
    assert (main.write.ack_timeout_seconds, main.write.batcher_shards) == (5.0, 4)
    assert main.common.temporal["target_host"] == "localhost:7233"
    batcher = BatcherSettings.from_env({**DB, "BATCH_MAX_SIZE": "250", "BATCH_MODE": "adaptive"})
    assert (batcher.batcher.max_batch_size, batcher.batcher.mode) == (250, "adaptive")


@pytest.mark.parametrize(
    ("env", "name"),
    [
        (TABLES, "DATABASE_URL"),
        ({**TABLES, "DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({**DB, "BATCH_MAX_SIZE": "0"}, "BATCH_MAX_SIZE"),
        ({**DB, "BATCH_MODE": "turbo"}, "BATCH_MODE"),
        ({**DB, "LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ],
)
def test_bad_setting_names_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        BatcherSettings.from_env(env)


def test_routing_is_stable_and_spread() -> None:
    assert shard_for("acct-42", 8) == shard_for("acct-42", 8)
    counts = Counter(shard_for(f"acct-{i}", 8) for i in range(8000))
    assert set(counts) == set(range(8))
    assert min(counts.values()) > 800
    # Growing 8 -> 9 shards moves about 1/9 of the keys, not most of them.
    moved = sum(shard_for(f"k{i}", 8) != shard_for(f"k{i}", 9) for i in range(9000))
    assert moved < 1500


def test_request_ids_follow_content_and_run_not_order() -> None:
    a, b = canonical_json({"x": 1, "y": "a"}), canonical_json({"y": "a", "x": 1})
    assert a == b  # key order is not content
    one = request_id("wf", "run-1", "orders", a, 1)
    assert one == request_id("wf", "run-1", "orders", b, 1)
    assert one != request_id("wf", "run-2", "orders", a, 1)  # a new run writes again
    assert one != request_id("wf", "run-1", "orders", a, 2)  # a second identical write
    assert one != request_id("wf", "run-1", "orders", canonical_json({"x": 2}), 1)
    assert one.startswith("wf/run-1/orders/")
    long_id = request_id("w" * 500, "run-1", "orders", a, 1)
    assert len(long_id) <= MAX_REQUEST_ID_CHARS and long_id.startswith("sha256:")
    assert keyed_request_id("orders", "pay-1") == "orders:pay-1"
    with pytest.raises(InvalidRowError):
        keyed_request_id("orders", "k" * 129)


@pytest.mark.parametrize(
    "row", [[1], {1: "a"}, {"a": object()}, {"a": b"bytes"}, {"a": {1, 2}}, "text"]
)
def test_rows_json_cannot_carry_are_refused_before_anything_is_sent(row: object) -> None:
    with pytest.raises(InvalidRowError):
        canonical_json(row)


def test_partition_key_defaults_to_the_conflict_key_or_the_request() -> None:
    orders = SPECS["orders"]
    row = {"order_id": "o-1", "status": "s", "total_cents": 1}
    assert default_partition_key(orders, row, "rid") == '["orders","o-1"]'
    assert default_partition_key(SPECS["order_events"], {"order_id": "o"}, "rid") == "rid"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"batcher_shards": 0}, ValueError),
        ({"ack_timeout_seconds": 0}, ValueError),
        ({"ack_timeout_seconds": 7200}, ValueError),
        ({"submit_linger_seconds": -1}, ValueError),
        ({"withdraw_retry_seconds": 0}, ValueError),
        ({"max_row_bytes": 0}, ValueError),
        ({"ack_poll_seconds": 0}, ValueError),
        ({"ack_poll_seconds": 60}, ValueError),
        ({"tables": {}}, TableSpecError),
        ({"tables": {"other": SPECS["orders"]}}, TableSpecError),
        ({"tables": "/no/such/tables.yaml"}, TableSpecError),
    ],
)
def test_plugin_refuses_bad_settings(kwargs: dict[str, object], error: type[Exception]) -> None:
    tables = kwargs.pop("tables", SPECS)
    with pytest.raises(error):
        WriteBatchingPlugin(tables, **kwargs)  # type: ignore[arg-type]
