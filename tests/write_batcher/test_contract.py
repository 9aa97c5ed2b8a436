"""The shared contract: settings, routing, request ids, partition keys, validation, the plugin's
checks."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from batcher_service.intake.config import IntakeConfig
from batcher_service.settings import BatcherSettings
from main_service.settings import MainSettings
from tests.support.write_support import SPECS
from write_batcher import WriteBatchingPlugin, WriteSettings, errors
from write_batcher._ids import (
    MAX_REQUEST_ID_CHARS,
    InvalidRowError,
    canonical_json,
    default_partition_key,
    keyed_request_id,
    request_id,
)
from write_batcher._routing import shard_for
from write_batcher._settings import setting_names
from write_batcher._validation import validate_write
from write_batcher.contract import WriteInput, WriteRequest
from write_batcher_kit.settings import SettingsError

TABLES = {
    "WRITE_TABLES_FILE": str(
        Path(__file__).parents[2] / "main-service" / "main_service" / "tables.yaml"
    )
}
DB = {**TABLES, "DATABASE_URL": "postgresql://u@localhost/db"}


def test_defaults_and_overrides() -> None:
    # The caller's only knob from the environment; no table spec on the caller side.
    main = MainSettings.from_env({"ACK_TIMEOUT_SECONDS": "5"})
    assert main.write == WriteSettings(ack_timeout_seconds=5.0)
    assert main.common.temporal["target_host"] == "localhost:7233"
    assert MainSettings.from_env({}).write == WriteSettings()
    batcher = BatcherSettings.from_env({**DB, "BATCH_MAX_SIZE": "250", "BATCH_MODE": "adaptive"})
    assert (batcher.batcher.max_batch_size, batcher.batcher.mode) == (250, "adaptive")
    assert batcher.intake == IntakeConfig()
    # Shards, signal coalescing and the row size limit are the batcher's.
    intake = {
        "BATCHER_SHARDS": "4",
        "BATCHER_ID_PREFIX": "wb",
        "SUBMIT_LINGER_SECONDS": "0",
        "MAX_ROW_BYTES": "1000",
    }
    assert BatcherSettings.from_env({**DB, **intake}).intake == IntakeConfig(4, "wb", 0.0, 1000)


@pytest.mark.parametrize("value", ["0", "-1", "7200", "soon"])
def test_bad_ack_timeout_names_the_variable(value: str) -> None:
    with pytest.raises(SettingsError, match="ACK_TIMEOUT_SECONDS"):
        MainSettings.from_env({"ACK_TIMEOUT_SECONDS": value})


@pytest.mark.parametrize(
    ("env", "name"),
    [
        (TABLES, "DATABASE_URL"),
        ({**TABLES, "DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({**DB, "BATCH_MAX_SIZE": "0"}, "BATCH_MAX_SIZE"),
        ({**DB, "BATCH_MODE": "turbo"}, "BATCH_MODE"),
        ({**DB, "LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({**DB, "BATCHER_SHARDS": "0"}, "BATCHER_SHARDS"),
        ({**DB, "SUBMIT_LINGER_SECONDS": "-1"}, "SUBMIT_LINGER_SECONDS"),
        ({**DB, "MAX_ROW_BYTES": "0"}, "MAX_ROW_BYTES"),
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


def test_validation_builds_the_request_the_shard_gets() -> None:
    row = {"order_id": "o-1", "status": "s", "total_cents": 1}
    request, size = validate_write(
        SPECS,
        WriteInput("rid", "orders", row),
        max_row_bytes=100,
        caller_workflow_id="wf",
        caller_run_id="run",
        caller_activity_id="7",
    )
    assert request == WriteRequest("rid", "orders", "wf", '["orders","o-1"]', row, "run", "7")
    assert size == len(canonical_json(row).encode())
    explicit, _ = validate_write(
        SPECS, WriteInput("rid", "orders", row, "p"), max_row_bytes=100, caller_workflow_id="wf"
    )
    assert (explicit.partition_key, explicit.caller_activity_id) == ("p", None)


@pytest.mark.parametrize(
    ("write", "why"),
    [
        (WriteInput("rid", "nope", {}), "unknown table 'nope'"),
        (WriteInput("rid", "orders", {"order_id": "o"}), "is required"),
        (
            WriteInput("rid", "orders", {"order_id": "o", "status": "x" * 100, "total_cents": 1}),
            "MAX_ROW_BYTES",
        ),
        (
            WriteInput("rid", "orders", {"order_id": "o", "status": "s", "total_cents": 1}, ""),
            "partition_key is empty",
        ),
    ],
)
def test_validation_refuses_for_good_with_the_reason(write: WriteInput, why: str) -> None:
    with pytest.raises(ApplicationError, match=why) as refused:
        validate_write(SPECS, write, max_row_bytes=100, caller_workflow_id="wf")
    assert (refused.value.type, refused.value.non_retryable) == (errors.INVALID_WRITE, True)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ack_timeout_seconds": 0},
        {"ack_timeout_seconds": -1},
        {"ack_timeout_seconds": 7200},
        {"batcher_task_queue": ""},
    ],
)
def test_plugin_refuses_bad_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        WriteBatchingPlugin(**kwargs)  # type: ignore[arg-type]


def test_the_plugin_takes_no_table_spec() -> None:
    """The spec is the batcher's: the old ``WriteBatchingPlugin("tables.yaml")`` is refused."""
    assert setting_names() == ["ack_timeout_seconds", "batcher_task_queue"]
    with pytest.raises(TypeError):
        WriteBatchingPlugin("tables.yaml")  # type: ignore[call-arg, arg-type]
    plugin = WriteBatchingPlugin(ack_timeout_seconds=3600, batcher_task_queue="q")
    assert plugin.settings == WriteSettings(3600, "q")
