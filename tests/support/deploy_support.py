"""Shared helpers for the tests in tests/deploy/: paths, chart rendering, env-name scan,
compose services, the Dockerfile's instructions."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "write-batcher"
FULL_VALUES = CHART / "ci" / "full-values.yaml"
GITOPS_VALUES = CHART / "ci" / "gitops-values.yaml"
VERSIONING_VALUES = CHART / "ci" / "versioning-values.yaml"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
# The images compose builds (and `make images` tags :local).
OUR_IMAGES = ("write-batcher/main:local", "write-batcher/batcher:local")
CODE_DIRS = ("shared", "service-kit", "main-service", "batcher-service")
TABLES_FILE = ROOT / "main-service" / "main_service" / "tables.yaml"

# Read by the SDKs rather than by our code (Temporal's envconfig, OpenTelemetry), or a family
# of names: one named backfill source each (BACKFILL_SOURCE_<NAME>).
SDK_ENV = re.compile(r"^(TEMPORAL_[A-Z0-9_]+|OTEL_[A-Z0-9_]+|BACKFILL_SOURCE_[A-Z0-9_]+)$")
# Names held in constants rather than passed to a getter literally.
_CONSTANT = re.compile(r"""^[A-Z_]*ENV[A-Z_]*(?:: ?Final)? ?= ?["']([A-Z][A-Z0-9_]+)["']""", re.M)
_GETTER = re.compile(
    r"""(?:_get\(\s*env\s*,|env(?:iron)?\.get\(|os\.getenv\(|environ\[|env\[)\s*["']([A-Z][A-Z0-9_]+)["']"""
)


def code_env_names() -> set[str]:
    """Env var names the code reads: the settings models' variables, plus scanned getters."""
    from batcher_service.settings import batcher_variable_names  # noqa: PLC0415
    from main_service.settings import main_variable_names  # noqa: PLC0415

    names: set[str] = set(batcher_variable_names() | main_variable_names())
    for top in CODE_DIRS:
        for path in (ROOT / top).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            names.update(_GETTER.findall(text), _CONSTANT.findall(text))
    return {n for n in names if not n.endswith("_")}


def is_known_env(name: str) -> bool:
    return name in code_env_names() or bool(SDK_ENV.match(name))


def load_full_values() -> dict[str, Any]:
    return yaml.safe_load(FULL_VALUES.read_text(encoding="utf-8"))


def load_gitops_values() -> dict[str, Any]:
    return yaml.safe_load(GITOPS_VALUES.read_text(encoding="utf-8"))


def load_versioning_values() -> dict[str, Any]:
    return yaml.safe_load(VERSIONING_VALUES.read_text(encoding="utf-8"))


def render(values: dict[str, Any] | None = None, *, revision: int = 1) -> dict[str, str]:
    """Render the chart through Helm's own engine (helm-python-sdk bundles libhelm): an
    install, or the upgrade to ``revision``."""
    import helm_python as helm  # noqa: PLC0415 - import only where Helm is needed

    with helm.Chart.load(str(CHART)) as chart:
        return chart.render(
            values or {},
            name="wb",
            namespace="write-batcher",
            revision=revision,
            is_install=revision == 1,
            is_upgrade=revision > 1,
        )


def manifests(rendered: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Every Kubernetes object in a render, NOTES.txt excluded."""
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                yield doc


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return list(spec.get("containers", [])) + list(spec.get("initContainers", []))


def require_tool(name: str) -> str:
    """Path of a CLI tool; fail in CI (.ci/run installs it), skip with a reason elsewhere."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} not found: apt-get install -y docker-compose prometheus"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError  # unreachable


def compose_services() -> dict[str, dict[str, Any]]:
    """The compose services that run one of our images."""
    doc = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return {n: s for n, s in doc["services"].items() if s.get("image") in OUR_IMAGES}


def assert_runnable(command: list[str]) -> None:
    """`python -m X ...` names a module (or a package with __main__) that is importable."""
    assert command[:2] == ["python", "-m"], command
    module = command[2]
    spec = importlib.util.find_spec(module)
    assert spec is not None, f"{module} is not importable"
    if spec.submodule_search_locations is not None:
        main = importlib.util.find_spec(f"{module}.__main__")
        assert main is not None, f"{module} has no __main__"
    else:
        source = spec.loader.get_source(module) if spec.loader else ""  # type: ignore[attr-defined]
        assert "__main__" in (source or ""), f"{module} does not run as a script"
    if module == "batcher_service" and len(command) > 3:
        from batcher_service.cli.main import COMMANDS  # noqa: PLC0415

        assert command[3] in COMMANDS, command


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions per stage, as (KEYWORD, rest), continuations joined."""
    lines = DOCKERFILE.read_text(encoding="utf-8").splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    stages: list[list[tuple[str, str]]] = []
    for line in re.sub(r"\\\n\s*", "", text).splitlines():
        keyword, _, rest = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        if keyword:
            stages[-1].append((keyword.upper(), rest.strip()))
    return stages


def stage_args(stage: list[tuple[str, str]]) -> dict[str, str]:
    """A stage's ARGs and their defaults (quotes removed; "" when none)."""
    args: dict[str, str] = {}
    for keyword, rest in stage:
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default.strip('"')
    return args


def _expand(text: str, values: Mapping[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), m.group(0)), text)


def image_command(build_args: Mapping[str, str]) -> list[str]:
    """What an image built with these build arguments runs when compose gives no command.

    CMD cannot expand a build argument, so the Dockerfile's is a shell line over an ENV set
    from one: expand both as the build and `sh -c` would.
    """
    final = dockerfile_stages()[-1]
    values = {**stage_args(final), **build_args}
    env: dict[str, str] = {}
    for keyword, rest in final:
        if keyword == "ENV":
            env.update((k, _expand(v, values)) for k, v in re.findall(r"(\w+)=(\S+)", rest))
    command: list[str] = json.loads([rest for keyword, rest in final if keyword == "CMD"][-1])
    if command[:2] == ["sh", "-c"]:
        assert command[2].startswith("exec "), "without exec, sh and not python gets SIGTERM"
        command = [_expand(part, env) for part in shlex.split(command[2].removeprefix("exec "))]
    return command


def objects(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The chart's rendered objects for these values (None: the defaults)."""
    return list(manifests(render(values)))


def by_kind(objs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


# Client TLS from an existing Secret, as values give it.
TLS_SECRET = {"enabled": True, "existingSecret": "client-tls"}
