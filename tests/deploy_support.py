"""Shared helpers for the tests/test_deploy_*.py files: paths, chart rendering, env-name scan."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "write-batcher"
FULL_VALUES = CHART / "ci" / "full-values.yaml"
COMPOSE = ROOT / "docker-compose.yml"
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


def render(values: dict[str, Any] | None = None) -> dict[str, str]:
    """Render the chart through Helm's own engine (helm-python-sdk bundles libhelm)."""
    import helm_python as helm  # noqa: PLC0415 - import only where Helm is needed

    with helm.Chart.load(str(CHART)) as chart:
        return chart.render(values or {}, name="wb", namespace="write-batcher", is_install=True)


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
