"""Compose, the chart, the Dockerfile and the docs use the env names and commands the code has."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.support import deploy_support as ds


def rendered_workloads() -> list[dict[str, Any]]:
    objs = [
        obj
        for values in (
            None,
            ds.load_full_values(),
            ds.load_gitops_values(),
            ds.load_versioning_values(),
        )
        for obj in ds.manifests(ds.render(values))
    ]
    return [o for o in objs if o["kind"] in {"Deployment", "Job"}]


def test_scan_finds_the_code_settings() -> None:
    names = ds.code_env_names()
    assert {"DATABASE_URL", "METRICS_PORT", "BATCH_MAX_SIZE", "BATCHER_SHARDS"} <= names
    assert len(names) >= 15, sorted(names)


def test_compose_env_names_are_read_by_the_code() -> None:
    services = ds.compose_services()
    assert {"main", "batcher", "migrate", "loadtest"} <= set(services)
    for name, service in services.items():
        unknown = [k for k in service.get("environment", {}) if not ds.is_known_env(k)]
        assert unknown == [], f"compose service {name} sets unknown env {unknown}"


def test_chart_env_names_are_read_by_the_code() -> None:
    for obj in rendered_workloads():
        for container in ds.containers(obj):
            names = [e["name"] for e in container.get("env", [])]
            unknown = [n for n in names if not ds.is_known_env(n)]
            assert unknown == [], f"{obj['metadata']['name']} sets unknown env {unknown}"


def test_chart_can_set_every_code_setting() -> None:
    full = ds.load_full_values()
    set_by_chart = {
        e["name"] for o in rendered_workloads() for c in ds.containers(o) for e in c.get("env", [])
    }
    assert set(full["main"]["env"]) | set(full["batcher"]["env"]) <= set_by_chart
    assert ds.code_env_names() <= set_by_chart


def test_chart_env_is_accepted_by_the_services() -> None:
    """What the chart sets parses as a whole: e.g. no tuner beside fixed slots."""
    from batcher_service.settings import BatcherSettings  # noqa: PLC0415
    from main_service.settings import MainSettings  # noqa: PLC0415

    services = {"main": MainSettings, "batcher": BatcherSettings}
    for obj in rendered_workloads():
        if obj["kind"] != "Deployment":
            continue
        component = obj["metadata"]["labels"]["app.kubernetes.io/component"]
        env = {e["name"]: e["value"] for e in ds.containers(obj)[0]["env"] if "value" in e}
        # What the pod mounts: the table spec here instead, TLS files and sources left out.
        mounted = ("TEMPORAL_TLS_", "BACKFILL_SOURCES_DIR")
        env = {k: v for k, v in env.items() if not k.startswith(mounted)}
        if component == "batcher":
            env["WRITE_TABLES_FILE"] = str(ds.TABLES_FILE)
            env["DATABASE_URL"] = "postgresql://u@db/d"  # from a Secret
        services[component].from_env(env)


def test_compose_loadtest_runs_the_load_test() -> None:
    """`docker compose run --rm loadtest ...` is python -m loadtest, shipped in its image."""
    from loadtest.options import parse  # noqa: PLC0415

    service = ds.compose_services()["loadtest"]
    assert service["entrypoint"] == ["python", "-m", "loadtest"]
    ds.assert_runnable(service["entrypoint"])
    args = parse([str(a) for a in service["command"]])
    assert not args.embedded and args.workflows >= 1
    env = service["environment"]
    # The load test reads the rows back: it needs the database beside Temporal.
    assert {"TEMPORAL_ADDRESS", "DATABASE_URL"} <= set(env)
    loadtest_code = (ds.ROOT / "loadtest" / "__main__.py").read_text(encoding="utf-8")
    assert '"DATABASE_URL"' in loadtest_code and '"TEMPORAL_ADDRESS"' in loadtest_code
    # Its image ships loadtest/ as source (tests/deploy/test_deploy_image.py checks the build).
    assert "loadtest" in service["build"]["args"]["SOURCES"].split()
    ignore = (ds.ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "!loadtest/**" in ignore
    depends = service["depends_on"]
    assert depends["main"]["condition"] == depends["batcher"]["condition"] == "service_healthy"


def test_compose_batcher_reads_the_demo_table_spec() -> None:
    services = ds.compose_services()
    env = services["batcher"]["environment"]
    path = env["WRITE_TABLES_FILE"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in services["batcher"]["volumes"]}
    assert mounts[path] == "./main-service/main_service/tables.yaml"
    # The caller's worker reads no table spec: the batcher validates every write.
    assert "WRITE_TABLES_FILE" not in services["main"]["environment"]
    assert "volumes" not in services["main"]
    doc = yaml.safe_load(ds.COMPOSE.read_text(encoding="utf-8"))["services"]
    schema = doc["demo-schema"]
    assert "./main-service/main_service/schema.sql:/schema.sql:ro" in schema["volumes"]
    assert doc["batcher"]["depends_on"]["demo-schema"] == {
        "condition": "service_completed_successfully"
    }


def test_removed_settings_are_gone() -> None:
    for removed in (
        "SUBMIT_TRANSPORT",
        "ACK_TRANSPORT",
        "ACK_POLL_SECONDS",
        "WITHDRAW_RETRY_SECONDS",
    ):
        assert removed not in ds.code_env_names()
        assert removed not in ds.COMPOSE.read_text(encoding="utf-8")
        assert removed not in (ds.CHART / "README.md").read_text(encoding="utf-8")


def test_commands_exist() -> None:
    commands = []
    for service in ds.compose_services().values():
        # What the image runs by default, with the service's build arguments.
        args = {k: str(v) for k, v in service["build"]["args"].items()}
        commands.append(ds.image_command(args))
        entry = service.get("entrypoint") or service.get("command")
        if entry:
            commands.append([str(part) for part in entry])
    for obj in rendered_workloads():
        commands += [c["command"] for c in ds.containers(obj) if "command" in c]
    assert ["python", "-m", "batcher_service", "migrate"] in commands
    for command in commands:
        ds.assert_runnable(command)


@pytest.mark.parametrize("path", ["README.md", "deploy/helm/write-batcher/README.md"])
def test_docs_list_every_code_setting(path: str) -> None:
    text = (ds.ROOT / path).read_text(encoding="utf-8")
    missing = sorted(n for n in ds.code_env_names() if f"`{n}`" not in text)
    assert missing == [], f"{path} does not document {missing}"
