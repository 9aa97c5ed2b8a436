"""Settings from the environment, and the workers' one-line start-up errors (real processes)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.worker import PollerBehaviorAutoscaling, ResourceBasedTunerConfig

from batcher_service.intake.config import IntakeConfig
from batcher_service.settings import BatcherSettings, batcher_variable_names
from main_service.settings import MainSettings, main_variable_names
from write_batcher import WriteSettings
from write_batcher_kit.settings import CommonSettings, SettingsError, WorkerTuning

ROOT = Path(__file__).resolve().parent.parent
TABLES = {"WRITE_TABLES_FILE": str(ROOT / "main-service" / "main_service" / "tables.yaml")}
DB = {**TABLES, "DATABASE_URL": "postgresql://u:s3cret-pw@localhost:5432/db"}
# main-service needs nothing set: it reads no table spec (the batcher validates every write).
MAIN: dict[str, str] = {}
# The batcher's intake: how callers' writes are checked, routed to shards and coalesced.
INTAKE = ("BATCHER_SHARDS", "BATCHER_ID_PREFIX", "SUBMIT_LINGER_SECONDS", "MAX_ROW_BYTES")
# Settings of the old write path (ack query polling, withdrawal retries), read by nobody now.
REMOVED = ("ACK_POLL_SECONDS", "WITHDRAW_RETRY_SECONDS")


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


def test_worker_tuning_is_off_unless_asked_and_keeps_the_fixed_slots() -> None:
    for settings in (MainSettings.from_env(MAIN), BatcherSettings.from_env(DB)):
        assert settings.tuning == WorkerTuning()
    blank = {
        name: "" for name in ("WORKER_POLLER_AUTOSCALING", "WORKER_POLLER_MIN", "WORKER_TUNER")
    }
    assert MainSettings.from_env({**MAIN, **blank}).tuning == WorkerTuning()  # compose's ""
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
    assert MainSettings.from_env({**MAIN, **env}).tuning == expected
    assert BatcherSettings.from_env({**DB, **env}).tuning == expected
    options = expected.worker_options(max_concurrent_activities=7)
    assert "max_concurrent_activities" not in options  # the SDK refuses both
    assert options["workflow_task_poller_behavior"] == expected.pollers
    assert options["activity_task_poller_behavior"] == expected.pollers
    # The SDK's defaults where only the switches are given; fixed slots beside pollers.
    only = MainSettings.from_env(
        {**MAIN, "WORKER_POLLER_AUTOSCALING": "1", "WORKER_MAX_CONCURRENT_ACTIVITIES": "9"}
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
    for load, base in ((MainSettings.from_env, MAIN), (BatcherSettings.from_env, DB)):
        with pytest.raises(SettingsError) as caught:
            load({**base, **env})
        message = str(caught.value)
        assert all(name in message for name in names), message
        assert "\n" not in message


def test_a_tuner_names_every_fixed_slot_variable_the_service_reads() -> None:
    fixed = {"WORKER_MAX_CONCURRENT_ACTIVITIES": "5", "WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "5"}
    with pytest.raises(SettingsError) as caught:
        MainSettings.from_env({**MAIN, **fixed, "WORKER_TUNER": "resource-based"})
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
    [("batcher_service", DB, "batcher-service"), ("main_service", MAIN, "main-service")],
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
    [("batcher_service", DB), ("main_service", MAIN)],
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


def _readme_table(header: str) -> dict[str, list[str]]:
    """One of the README's configuration tables: first cell -> the other cells."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index(header) :].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def test_the_readme_lists_every_plugin_knob_with_its_default_and_variable() -> None:
    from dataclasses import fields  # noqa: PLC0415

    defaults = WriteSettings()
    rows = _readme_table("| Plugin argument |")
    assert list(rows) == [f.name for f in fields(WriteSettings)]
    for name, (variable, default, *_) in rows.items():
        value = getattr(defaults, name)
        assert default == (str(value) if isinstance(value, str) else f"{value:g}"), name
        if isinstance(value, int | float):
            # Our main-service reads every numeric knob from its upper-case variable.
            assert variable == name.upper() and variable in main_variable_names(), name
        else:
            assert variable == "—", name


def _readers(name: str) -> set[str]:
    return {
        service
        for service, names in (
            ("main", main_variable_names()),
            ("batcher", batcher_variable_names()),
        )
        if name in names
    }


def test_the_readme_says_which_service_reads_each_variable() -> None:
    """The variables table: every variable a service reads, and the right services."""
    read_by_table = {name: cells[1] for name, cells in _readme_table("| Variable |").items()}
    # The plugin's knobs are main-service's variables, in the plugin table.
    plugin = {cells[0]: "main" for cells in _readme_table("| Plugin argument |").values()}
    assert not set(read_by_table) & set(plugin)
    rows = {**read_by_table, **plugin}
    for name in main_variable_names() | batcher_variable_names():
        assert name in rows, f"README's configuration tables do not list {name}"
        read_by = {s.strip() for s in rows[name].split(",")}
        if "all" in read_by:
            read_by = {"main", "batcher"}
        assert read_by & {"main", "batcher"} == _readers(name), (name, rows[name])
    for name in (*INTAKE, "WRITE_TABLES_FILE"):
        assert _readers(name) == {"batcher"}, name
    assert _readers("ACK_TIMEOUT_SECONDS") == {"main"}


def test_compose_and_the_chart_set_each_variable_on_the_service_that_reads_it() -> None:
    """No knob set where it does nothing (an intake setting on the caller, say)."""
    from tests import deploy_support as ds  # noqa: PLC0415

    # The batcher also reads a few names outside its settings models (BACKFILL_SOURCES_DIR).
    scanned = {
        name
        for path in (ROOT / "batcher-service").rglob("*.py")
        for pattern in (ds._GETTER, ds._CONSTANT)
        for name in pattern.findall(path.read_text())
    }
    reads = {"main": main_variable_names(), "batcher": batcher_variable_names() | scanned}
    services = ds.compose_services()
    for component, names in reads.items():
        env = set(services[component].get("environment", {}))
        stray = sorted(n for n in env if not ds.SDK_ENV.match(n) and n not in names)
        assert stray == [], f"compose's {component} sets {stray}, which it does not read"
    values = ds.load_full_values()
    for component, names in reads.items():
        stray = sorted(n for n in values[component]["env"] if n not in names)
        assert stray == [], f"the chart's ci values give {component} {stray}"
    for values_file in (None, values, ds.load_gitops_values()):
        for obj in ds.manifests(ds.render(values_file)):
            if obj["kind"] != "Deployment":
                continue
            component = obj["metadata"]["labels"]["app.kubernetes.io/component"]
            env = {e["name"] for c in ds.containers(obj) for e in c.get("env", [])}
            stray = sorted(n for n in env if not ds.SDK_ENV.match(n) and n not in reads[component])
            assert stray == [], f"the chart's {component} Deployment sets {stray}"


def _readme_section(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n{heading}\n")
    return text[start : text.index("\n## ", start + 1)]


def test_removed_settings_are_read_and_set_nowhere() -> None:
    from tests import deploy_support as ds  # noqa: PLC0415

    texts = {
        "README's Configuration": _readme_section("## Configuration"),
        "docker-compose.yml": ds.COMPOSE.read_text(),
        "chart README": (ds.CHART / "README.md").read_text(),
        "chart values": (ds.CHART / "values.yaml").read_text(),
        "chart ci values": ds.FULL_VALUES.read_text() + ds.GITOPS_VALUES.read_text(),
    }
    for name in REMOVED:
        assert not _readers(name), name
        for where, text in texts.items():
            assert name not in text, f"{where} still mentions {name}"
    for name in INTAKE:
        assert name not in main_variable_names(), name


def test_a_knob_out_of_range_names_its_variable() -> None:
    with pytest.raises(SettingsError) as caught:
        MainSettings.from_env({"ACK_TIMEOUT_SECONDS": "7200"})
    assert "ACK_TIMEOUT_SECONDS" in str(caught.value), caught.value
    assert MainSettings.from_env({"ACK_TIMEOUT_SECONDS": "12"}).write == (
        WriteSettings(ack_timeout_seconds=12)
    )
