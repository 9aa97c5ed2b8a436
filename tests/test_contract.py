"""The shared contract: settings parsing, shard routing, row validation, request ids."""

from __future__ import annotations

from collections import Counter

import pytest

from shared.payloads import make_request_id
from shared.routing import shard_for
from shared.schema import RowValidationError, validate_row
from shared.settings import BatcherSettings, MainSettings, SettingsError

DB = {"DATABASE_URL": "postgresql://u@localhost/db"}


def test_defaults_and_overrides() -> None:
    main = MainSettings.from_env({"ACK_TIMEOUT_SECONDS": "5", "BATCHER_SHARDS": "4"})
    assert (main.ack_timeout_seconds, main.batcher_shards) == (5.0, 4)
    assert main.common.temporal["target_host"] == "localhost:7233"
    batcher = BatcherSettings.from_env({**DB, "BATCH_MAX_SIZE": "250", "BATCH_MODE": "adaptive"})
    assert (batcher.batcher.max_batch_size, batcher.batcher.mode) == (250, "adaptive")


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({**DB, "BATCH_MAX_SIZE": "0"}, "BATCH_MAX_SIZE"),
        ({**DB, "BATCH_MAX_WAIT_SECONDS": "-1"}, "BATCH_MAX_WAIT_SECONDS"),
        ({**DB, "BATCH_MODE": "turbo"}, "BATCH_MODE"),
        ({**DB, "ACK_TRANSPORT": "pigeon"}, "ACK_TRANSPORT"),
        ({**DB, "BATCHER_MAX_SIGNALS_PER_RUN": "20000"}, "BATCHER_MAX_SIGNALS_PER_RUN"),
        ({**DB, "LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ],
)
def test_bad_setting_names_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        BatcherSettings.from_env(env)


def test_temporal_address_comes_from_sdk_env_config() -> None:
    main = MainSettings.from_env({"TEMPORAL_ADDRESS": "temporal:7233", "TEMPORAL_NAMESPACE": "x"})
    assert main.common.temporal["target_host"] == "temporal:7233"
    assert main.common.temporal["namespace"] == "x"


def test_routing_is_stable_and_spread() -> None:
    assert shard_for("acct-42", 8) == shard_for("acct-42", 8)
    counts = Counter(shard_for(f"acct-{i}", 8) for i in range(8000))
    assert set(counts) == set(range(8))
    assert min(counts.values()) > 800
    # Growing 8 -> 9 shards moves about 1/9 of the keys, not most of them.
    moved = sum(shard_for(f"k{i}", 8) != shard_for(f"k{i}", 9) for i in range(9000))
    assert moved < 1500


def test_request_id_is_deterministic() -> None:
    assert make_request_id("pay-1", 1) == make_request_id("pay-1", 1) != make_request_id("pay-1", 2)


@pytest.mark.parametrize(
    "row",
    [
        {"amount_cents": 1, "currency": "EUR"},
        {"account_id": "a", "amount_cents": "1", "currency": "EUR"},
        {"account_id": "a", "amount_cents": True, "currency": "EUR"},
        {"account_id": "a", "amount_cents": 1, "currency": "EUR", "extra": 1},
        {"account_id": "a", "amount_cents": 2**63, "currency": "EUR"},
    ],
)
def test_rows_that_do_not_fit_are_refused(row: dict[str, object]) -> None:
    with pytest.raises(RowValidationError):
        validate_row(row)
