"""Settings from the environment: defaults, overrides, and a bad value named by its variable."""

from __future__ import annotations

import pytest

from batcher_service.intake.config import IntakeConfig
from batcher_service.settings import BatcherSettings
from main_service.settings import MainSettings
from tests.support.settings_support import DB, MAIN, ROOT, TABLES
from write_batcher import WriteSettings
from write_batcher_kit.settings import CommonSettings, SettingsError


def test_defaults() -> None:
    main = MainSettings.from_env(MAIN)
    assert main.write == WriteSettings()
    assert main.write.ack_timeout_seconds == 120.0
    assert main.common.metrics_port == 9101
    assert main.common.service_name == "main-service"
    assert main.common.temporal["target_host"] == "localhost:7233"
    batcher = BatcherSettings.from_env(DB)
    assert "ledger_entries" in batcher.tables
    assert batcher.intake == IntakeConfig()
    assert (batcher.intake.shards, batcher.intake.max_row_bytes) == (1, 16384)
    assert (batcher.intake.id_prefix, batcher.intake.linger_seconds) == ("write-batcher", 1.0)
    assert batcher.request_retention_hours == 168.0
    assert batcher.batcher.flush_timeout_seconds == 30.0
    assert (batcher.batcher.mode, batcher.database_pool_size) == ("adaptive", 10)
    assert batcher.common.metrics_port == 9102
    assert "s3cret" not in repr(batcher)


def test_overrides_blank_values_and_case() -> None:
    batcher = BatcherSettings.from_env(
        {
            **DB,
            "BATCH_MAX_SIZE": " 250 ",
            "BATCH_MODE": "fixed",
            "BATCH_FLUSH_TIMEOUT_SECONDS": "7.5",
            "REQUEST_RETENTION_HOURS": "24",
            "METRICS_PORT": "",  # blank: what compose and Helm render for an unset value
            "LOG_LEVEL": "debug",
            "OTEL_SERVICE_NAME": "b-1",
        }
    )
    assert (batcher.batcher.max_batch_size, batcher.batcher.mode) == (250, "fixed")
    assert batcher.batcher.flush_timeout_seconds == 7.5
    assert batcher.request_retention_hours == 24.0
    assert batcher.common.metrics_port == 9102
    assert (batcher.common.log_level, batcher.common.service_name) == ("DEBUG", "b-1")
    intake = BatcherSettings.from_env(
        {
            **DB,
            "SUBMIT_LINGER_SECONDS": "0",
            "BATCHER_SHARDS": "8",
            "BATCHER_ID_PREFIX": "orders-batcher",
            "MAX_ROW_BYTES": "4096",
        }
    ).intake
    assert intake == IntakeConfig(8, "orders-batcher", 0.0, 4096)
    main = MainSettings.from_env({"ACK_TIMEOUT_SECONDS": "45"})
    assert main.write == WriteSettings(ack_timeout_seconds=45.0)
    common = CommonSettings.from_env({"TEMPORAL_ADDRESS": "t:7233"}, default_metrics_port=0)
    assert (common.temporal["target_host"], common.metrics_port) == ("t:7233", 0)


def test_unix_socket_database_url() -> None:
    url = "postgresql:///db?host=/var/run/postgresql"
    assert BatcherSettings.from_env({**TABLES, "DATABASE_URL": url}).database_url == url


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({}, "WRITE_TABLES_FILE"),
        ({"DATABASE_URL": DB["DATABASE_URL"]}, "WRITE_TABLES_FILE"),
        ({**DB, "WRITE_TABLES_FILE": "/no/such/tables.yaml"}, "WRITE_TABLES_FILE"),
        ({**DB, "WRITE_TABLES_FILE": str(ROOT / "pyproject.toml")}, "WRITE_TABLES_FILE"),
        (TABLES, "DATABASE_URL"),
        ({**DB, "BATCH_MAX_SIZE": "0"}, "BATCH_MAX_SIZE"),
        ({**DB, "BATCH_MAX_SIZE": "1.5"}, "BATCH_MAX_SIZE"),
        ({**DB, "BATCH_MAX_WAIT_SECONDS": "-1"}, "BATCH_MAX_WAIT_SECONDS"),
        ({**DB, "BATCH_MAX_WAIT_SECONDS": "nan"}, "BATCH_MAX_WAIT_SECONDS"),
        ({**DB, "BATCH_FLUSH_TIMEOUT_SECONDS": "inf"}, "BATCH_FLUSH_TIMEOUT_SECONDS"),
        ({**DB, "REQUEST_RETENTION_HOURS": "0"}, "REQUEST_RETENTION_HOURS"),
        ({**DB, "BATCH_MODE": "turbo"}, "BATCH_MODE"),
        ({**DB, "BATCHER_MAX_SIGNALS_PER_RUN": "20000"}, "BATCHER_MAX_SIGNALS_PER_RUN"),
        ({**DB, "BATCH_MIN_INTERVAL_SECONDS": "5"}, "BATCH_MAX_INTERVAL_SECONDS"),
        ({**DB, "LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({**DB, "METRICS_PORT": "70000"}, "METRICS_PORT"),
        ({**DB, "DATABASE_POOL_SIZE": "many"}, "DATABASE_POOL_SIZE"),
        ({**DB, "BATCHER_SHARDS": "-2"}, "BATCHER_SHARDS"),
        ({**DB, "BATCHER_SHARDS": "0"}, "BATCHER_SHARDS"),
        ({**DB, "SUBMIT_LINGER_SECONDS": "-0.1"}, "SUBMIT_LINGER_SECONDS"),
        ({**DB, "MAX_ROW_BYTES": "big"}, "MAX_ROW_BYTES"),
        ({**DB, "MAX_ROW_BYTES": "131073"}, "MAX_ROW_BYTES"),
    ],
)
def test_bad_batcher_setting_names_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name) as caught:
        BatcherSettings.from_env(env)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"ACK_TIMEOUT_SECONDS": "0"}, "ACK_TIMEOUT_SECONDS"),
        ({"ACK_TIMEOUT_SECONDS": "soon"}, "ACK_TIMEOUT_SECONDS"),
        ({"WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "0"}, "WORKER_MAX_CONCURRENT"),
    ],
)
def test_bad_main_setting_names_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        MainSettings.from_env(env)


@pytest.mark.parametrize(
    "url",
    [
        "postgres://::nope",
        "postgresql://u:s3cret-pw@db:99999/x",
        "postgresql://u:s3cret-pw@db:port/x",
        "postgresql://u:s3cret-pw@/x",
        "mysql://u:s3cret-pw@db/x",
        "u:s3cret-pw@db/x",
    ],
)
def test_malformed_database_url_is_refused_without_its_password(url: str) -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL") as caught:
        BatcherSettings.from_env({**TABLES, "DATABASE_URL": url})
    assert "s3cret" not in str(caught.value)
    assert "nope" not in str(caught.value)


def test_a_knob_out_of_range_names_its_variable() -> None:
    with pytest.raises(SettingsError) as caught:
        MainSettings.from_env({"ACK_TIMEOUT_SECONDS": "7200"})
    assert "ACK_TIMEOUT_SECONDS" in str(caught.value), caught.value
    assert MainSettings.from_env({"ACK_TIMEOUT_SECONDS": "12"}).write == (
        WriteSettings(ack_timeout_seconds=12)
    )
