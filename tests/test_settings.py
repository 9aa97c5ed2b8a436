"""Settings from the environment, and the workers' one-line start-up errors (real processes)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.worker import PollerBehaviorAutoscaling, ResourceBasedTunerConfig

from batcher_service.settings import BatcherSettings
from main_service.settings import MainSettings
from write_batcher import WriteSettings
from write_batcher_kit.settings import CommonSettings, SettingsError, WorkerTuning

ROOT = Path(__file__).resolve().parent.parent
TABLES = {"WRITE_TABLES_FILE": str(ROOT / "main-service" / "main_service" / "tables.yaml")}
DB = {**TABLES, "DATABASE_URL": "postgresql://u:s3cret-pw@localhost:5432/db"}


def test_defaults() -> None:
    main = MainSettings.from_env(TABLES)
    assert (
        main.write.ack_timeout_seconds,
        main.write.batcher_shards,
        main.write.max_row_bytes,
    ) == (120.0, 1, 16384)
    assert main.common.metrics_port == 9101
    assert main.common.service_name == "main-service"
    assert main.common.temporal["target_host"] == "localhost:7233"
    assert "ledger_entries" in main.tables
    batcher = BatcherSettings.from_env(DB)
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
    main = MainSettings.from_env({**TABLES, "SUBMIT_LINGER_SECONDS": "0", "BATCHER_SHARDS": "8"})
    assert (main.write.submit_linger_seconds, main.write.batcher_shards) == (0.0, 8)
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
    ],
)
def test_bad_batcher_setting_names_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name) as caught:
        BatcherSettings.from_env(env)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({**TABLES, "ACK_TIMEOUT_SECONDS": "0"}, "ACK_TIMEOUT_SECONDS"),
        ({**TABLES, "BATCHER_SHARDS": "-2"}, "BATCHER_SHARDS"),
        ({**TABLES, "SUBMIT_LINGER_SECONDS": "-0.1"}, "SUBMIT_LINGER_SECONDS"),
        ({**TABLES, "ACK_POLL_SECONDS": "0"}, "ACK_POLL_SECONDS"),
        ({**TABLES, "MAX_ROW_BYTES": "big"}, "MAX_ROW_BYTES"),
        ({**TABLES, "WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "0"}, "WORKER_MAX_CONCURRENT"),
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


def test_worker_tuning_is_off_unless_asked_and_keeps_the_fixed_slots() -> None:
    for settings in (MainSettings.from_env(TABLES), BatcherSettings.from_env(DB)):
        assert settings.tuning == WorkerTuning()
    blank = {
        name: "" for name in ("WORKER_POLLER_AUTOSCALING", "WORKER_POLLER_MIN", "WORKER_TUNER")
    }
    assert MainSettings.from_env({**TABLES, **blank}).tuning == WorkerTuning()  # compose's ""
    assert WorkerTuning().worker_options(max_concurrent_activities=7) == {
        "max_concurrent_activities": 7
    }


def test_worker_tuning_from_the_environment_in_both_services() -> None:
    env = {
        "WORKER_POLLER_AUTOSCALING": "true",
        "WORKER_POLLER_MIN": "2",
        "WORKER_POLLER_MAX": "12",
        "WORKER_POLLER_INITIAL": "3",
        "WORKER_TUNER": "resource-based",
        "WORKER_TUNER_TARGET_MEMORY": "0.6",
        "WORKER_TUNER_TARGET_CPU": "1",
    }
    expected = WorkerTuning(
        PollerBehaviorAutoscaling(minimum=2, maximum=12, initial=3),
        ResourceBasedTunerConfig(target_memory_usage=0.6, target_cpu_usage=1.0),
    )
    assert MainSettings.from_env({**TABLES, **env}).tuning == expected
    assert BatcherSettings.from_env({**DB, **env}).tuning == expected
    options = expected.worker_options(max_concurrent_activities=7)
    assert "max_concurrent_activities" not in options  # the SDK refuses both
    assert options["workflow_task_poller_behavior"] == expected.pollers
    assert options["activity_task_poller_behavior"] == expected.pollers
    # The SDK's defaults where only the switches are given; fixed slots beside pollers.
    only = MainSettings.from_env(
        {**TABLES, "WORKER_POLLER_AUTOSCALING": "1", "WORKER_MAX_CONCURRENT_ACTIVITIES": "9"}
    )
    assert only.tuning == WorkerTuning(PollerBehaviorAutoscaling())
    assert only.max_concurrent_activities == 9
    resources = BatcherSettings.from_env({**DB, "WORKER_TUNER": "resource-based"}).tuning
    assert resources.resources == ResourceBasedTunerConfig(0.8, 0.9)


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"WORKER_TUNER": "resource-based", "WORKER_MAX_CONCURRENT_ACTIVITIES": "10"},
         ["WORKER_TUNER", "WORKER_MAX_CONCURRENT_ACTIVITIES"]),
        ({"WORKER_POLLER_MIN": "2"}, ["WORKER_POLLER_MIN", "WORKER_POLLER_AUTOSCALING"]),
        ({"WORKER_POLLER_AUTOSCALING": "false", "WORKER_POLLER_MAX": "9"},
         ["WORKER_POLLER_MAX", "WORKER_POLLER_AUTOSCALING"]),
        ({"WORKER_POLLER_AUTOSCALING": "true", "WORKER_POLLER_MIN": "8", "WORKER_POLLER_MAX": "4"},
         ["WORKER_POLLER_MIN", "WORKER_POLLER_INITIAL", "WORKER_POLLER_MAX"]),
        ({"WORKER_POLLER_AUTOSCALING": "true", "WORKER_POLLER_INITIAL": "200"},
         ["WORKER_POLLER_INITIAL", "WORKER_POLLER_MAX"]),
        ({"WORKER_POLLER_AUTOSCALING": "sometimes"}, ["WORKER_POLLER_AUTOSCALING"]),
        ({"WORKER_POLLER_AUTOSCALING": "true", "WORKER_POLLER_MIN": "0"}, ["WORKER_POLLER_MIN"]),
        ({"WORKER_TUNER": "auto"}, ["WORKER_TUNER"]),
        ({"WORKER_TUNER_TARGET_CPU": "0.5"}, ["WORKER_TUNER_TARGET_CPU", "WORKER_TUNER"]),
        ({"WORKER_TUNER": "resource-based", "WORKER_TUNER_TARGET_MEMORY": "80"},
         ["WORKER_TUNER_TARGET_MEMORY"]),
        ({"WORKER_TUNER": "resource-based", "WORKER_TUNER_TARGET_CPU": "0"},
         ["WORKER_TUNER_TARGET_CPU"]),
    ],
)  # fmt: skip
def test_bad_worker_tuning_is_refused_in_both_services(
    env: dict[str, str], names: list[str]
) -> None:
    for load, base in ((MainSettings.from_env, TABLES), (BatcherSettings.from_env, DB)):
        with pytest.raises(SettingsError) as caught:
            load({**base, **env})
        message = str(caught.value)
        assert all(name in message for name in names), message
        assert "\n" not in message


def test_a_tuner_names_every_fixed_slot_variable_the_service_reads() -> None:
    fixed = {"WORKER_MAX_CONCURRENT_ACTIVITIES": "5", "WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "5"}
    with pytest.raises(SettingsError) as caught:
        MainSettings.from_env({**TABLES, **fixed, "WORKER_TUNER": "resource-based"})
    assert all(name in str(caught.value) for name in fixed)
    # The batcher has no workflow-task slot setting: that variable is not its concern.
    batcher = BatcherSettings.from_env(
        {**DB, "WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "5", "WORKER_TUNER": "resource-based"}
    )
    assert batcher.tuning.resources is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_worker(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", module],
        env={**clean, "METRICS_PORT": "0", **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.mark.parametrize("url", ["postgres://::nope", "postgresql://u:s3cret-pw@db:99999/x"])
def test_batcher_refuses_a_malformed_database_url_at_start(url: str) -> None:
    done = _run_worker("batcher_service", {**TABLES, "DATABASE_URL": url})
    assert done.returncode == 2, done.stderr
    lines = _error_lines(done.stderr)
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("batcher-service: DATABASE_URL")
    assert "s3cret" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("module", "env", "service"),
    [("batcher_service", DB, "batcher-service"), ("main_service", TABLES, "main-service")],
)
def test_a_tuner_beside_fixed_slots_stops_the_worker_at_start(
    module: str, env: dict[str, str], service: str
) -> None:
    tuned = {"WORKER_TUNER": "resource-based", "WORKER_MAX_CONCURRENT_ACTIVITIES": "10"}
    done = _run_worker(module, {**env, **tuned})
    assert done.returncode == 2, done.stderr
    (line,) = _error_lines(done.stderr)
    assert line.startswith(f"{service}: WORKER_TUNER=resource-based"), line
    assert "WORKER_MAX_CONCURRENT_ACTIVITIES" in line


@pytest.mark.parametrize(
    ("module", "env"),
    [("batcher_service", DB), ("main_service", TABLES)],
)
def test_unreachable_temporal_ends_with_one_line_and_exit_2(
    module: str, env: dict[str, str]
) -> None:
    address = f"127.0.0.1:{_free_port()}"
    done = _run_worker(module, {**env, "TEMPORAL_ADDRESS": address})
    assert done.returncode == 2, done.stderr
    lines = _error_lines(done.stderr)
    assert len(lines) == 1, done.stderr  # no traceback, no retry chatter at LOG_LEVEL=INFO
    assert lines[0].startswith(f"{module.replace('_', '-')}: cannot reach the Temporal frontend")
    assert f"TEMPORAL_ADDRESS={address} after 5 attempts" in lines[0]
    assert "s3cret" not in done.stderr


def _readme_plugin_rows() -> dict[str, tuple[str, str]]:
    """The README's plugin table: argument -> (variable, default)."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| Plugin argument |") :].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        rows[cells[0]] = (cells[1], cells[2])
    return rows


def test_the_readme_lists_every_plugin_knob_with_its_default_and_variable() -> None:
    from dataclasses import fields  # noqa: PLC0415

    from main_service.settings import main_variable_names  # noqa: PLC0415

    defaults = WriteSettings()
    rows = _readme_plugin_rows()
    assert list(rows) == [f.name for f in fields(WriteSettings)]
    for name, (variable, default) in rows.items():
        value = getattr(defaults, name)
        assert default == (str(value) if isinstance(value, str) else f"{value:g}"), name
        if isinstance(value, int | float):
            # Our main-service reads every numeric knob from its upper-case variable.
            assert variable == name.upper() and variable in main_variable_names(), name
        else:
            assert variable == "—", name


def test_a_knob_out_of_range_names_its_variable() -> None:
    with pytest.raises(SettingsError) as caught:
        MainSettings.from_env({**TABLES, "ACK_POLL_SECONDS": "60"})
    assert "ACK_POLL_SECONDS" in str(caught.value), caught.value
    assert MainSettings.from_env({**TABLES, "WITHDRAW_RETRY_SECONDS": "12"}).write == (
        WriteSettings(withdraw_retry_seconds=12)
    )
