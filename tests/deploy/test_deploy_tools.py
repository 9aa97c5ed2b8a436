"""Static checks with the real tools: docker-compose, promtool, hadolint; pinned images; docs."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import deploy_support as ds

ALERTS = ds.ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARDS = ds.ROOT / "deploy" / "grafana" / "dashboards"
COMPOSE_SECRETS = {"POSTGRES_PASSWORD": "test", "GRAFANA_ADMIN_PASSWORD": "test"}


def _run(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=ds.ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_compose_config_is_valid() -> None:
    tool = ds.require_tool("docker-compose")
    env = {**os.environ, **COMPOSE_SECRETS}
    result = _run([tool, "-f", str(ds.COMPOSE), "config", "-q"], env)
    assert result.returncode == 0, result.stderr
    profiled = _run(
        [tool, "-f", str(ds.COMPOSE), "--profile", "loadtest", "config", "--services"], env
    )
    assert "loadtest" in profiled.stdout.split(), profiled.stderr


def test_compose_requires_secrets() -> None:
    tool = ds.require_tool("docker-compose")
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_SECRETS}
    result = _run([tool, "-f", str(ds.COMPOSE), "config", "-q"], env)
    assert result.returncode != 0 and "POSTGRES_PASSWORD" in result.stderr


def test_compose_images_pinned_and_dependencies_ordered() -> None:
    services = yaml.safe_load(ds.COMPOSE.read_text(encoding="utf-8"))["services"]
    for name, service in services.items():
        image = service["image"]
        tag = image.rsplit(":", 1)[-1] if ":" in image else ""
        assert re.match(r"^v?\d+\.\d+", tag) or "build" in service, f"{name}: unpinned {image}"
    migrate = services["batcher"]["depends_on"]["migrate"]
    assert migrate["condition"] == "service_completed_successfully"
    assert services["main"]["depends_on"]["temporal"]["condition"] == "service_healthy"
    assert services["loadtest"]["profiles"] == ["loadtest"]


def test_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    tool = ds.require_tool("promtool")
    shutil.copy(ds.ROOT / "deploy" / "compose" / "prometheus.yml", tmp_path / "prometheus.yml")
    # Compose mounts deploy/prometheus/alerts.yml beside the config; until it exists
    # (a colleague's file) check the config against an empty rule file.
    alerts = ALERTS.read_text(encoding="utf-8") if ALERTS.exists() else "groups: []\n"
    (tmp_path / "alerts.yml").write_text(alerts, encoding="utf-8")
    result = _run([tool, "check", "config", str(tmp_path / "prometheus.yml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = _run([hadolint, "--failure-threshold", "info", str(ds.DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_contract() -> None:
    text = ds.DOCKERFILE.read_text(encoding="utf-8")
    assert "uv sync --frozen --no-dev" in text and "STOPSIGNAL SIGTERM" in text
    assert "/healthz" in text.split("HEALTHCHECK", 1)[1] and re.search(r"^USER 10001", text, re.M)
    final = text.rsplit("\nFROM ", 1)[1]
    assert "uv" not in re.findall(r"^COPY --from=(\S+)", final, re.M)
    for base in re.findall(r"^FROM (\S+)", text, re.M):
        assert re.search(r":\d+\.\d+", base), f"unpinned base image {base}"


def test_chart_dashboards_match_sources() -> None:
    chart_copies = {p.name: p.read_bytes() for p in (ds.CHART / "dashboards").glob("*.json")}
    sources = {p.name: p.read_bytes() for p in DASHBOARDS.glob("*.json")}
    assert chart_copies == sources, "run `make chart-files`"


@pytest.mark.parametrize(
    ("copy", "source"),
    [("rules/alerts.yml", ALERTS), ("files/tables.yaml", ds.TABLES_FILE)],
)
def test_chart_file_copies_match_sources(copy: str, source: Path) -> None:
    assert (ds.CHART / copy).read_bytes() == source.read_bytes(), "run `make chart-files`"


def test_dashboards_are_generated_from_generate_py(tmp_path: Path) -> None:
    """The committed JSON is what deploy/grafana/generate.py writes (edit there, not here)."""
    spec = importlib.util.spec_from_file_location("generate", DASHBOARDS.parent / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, board in (("write-batching", module.write_batching()),
                        ("temporal-sdk-workers", module.sdk_workers())):  # fmt: skip
        committed = json.loads((DASHBOARDS / f"{name}.json").read_text(encoding="utf-8"))
        assert board == committed, f"run `python deploy/grafana/generate.py` ({name})"


def test_chart_readme_lists_every_value() -> None:
    values = yaml.safe_load((ds.CHART / "values.yaml").read_text(encoding="utf-8"))
    readme = (ds.CHART / "README.md").read_text(encoding="utf-8")

    def keys(node: object, prefix: str) -> list[str]:
        leaf = prefix in {"podSecurityContext", "securityContext"} or prefix.endswith(
            (".resources", "Probe")
        )
        if not isinstance(node, dict) or not node or leaf:
            return [prefix]
        return [k for key, sub in node.items() for k in keys(sub, f"{prefix}.{key}".lstrip("."))]

    missing = [k for k in keys(values, "") if f"`{k}`" not in readme]
    assert missing == [], missing


DOCS = [
    "README.md",
    "bench/README.md",
    "docs/performance.md",
    "deploy/helm/write-batcher/README.md",
    "deploy/grafana/README.md",
    "deploy/CONFIGURATION.md",
    "CHANGELOG.md",
]


@pytest.mark.parametrize("doc", DOCS)
def test_docs_cite_only_files_that_exist(doc: str) -> None:
    """Relative links and the test files a doc names are there (docs say what is there)."""
    path = ds.ROOT / doc
    text = path.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    cited = [ln for ln in links if not re.match(r"^[a-z]+:", ln)]
    cited += re.findall(r"`(tests/(?:\w+/)*test_\w+\.py)`", text)
    missing = [c for c in cited if not ((path.parent / c).exists() or (ds.ROOT / c).exists())]
    assert missing == [], f"{doc} cites {missing}"


def test_readme_opens_with_the_two_commands() -> None:
    readme = (ds.ROOT / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split()[:2] for line in first_block] == [["make", "demo"], ["make", "test"]]
    sections = re.findall(r"^## (.+)$", readme, re.M)
    order = ["Use it in your own app", "Configuration", "Deploy", "Operate"]
    assert [s for s in sections if s in order] == order
    assert sections.index("Use it in your own app") == 0
