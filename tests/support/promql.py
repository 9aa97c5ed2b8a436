"""Helpers for observability tests: PromQL from the dashboards and alerts, promtool, scraping."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERTS_TEST = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
# Series Prometheus makes itself rather than scraping them.
SYNTHETIC = {"up"}
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without"}


def tool(name: str) -> str:
    """A Prometheus binary; missing fails under CI=true (CI installs it) and skips elsewhere."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found: apt-get install -y prometheus"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), *args], capture_output=True, text=True, check=False, cwd=ROOT
    )


def grafana_to_promql(expr: str, rate_interval: str = "5m") -> str:
    """Grafana's template variables replaced the way a dashboard with "All" selected does."""
    return (
        expr.replace("$__rate_interval", rate_interval)
        .replace("${job}", ".*")
        .replace("$job", ".*")
        .replace("${instance}", ".*")
        .replace("$instance", ".*")
        .replace("${namespace}", ".*")
        .replace("$namespace", ".*")
    )


def dashboard_targets(path: Path) -> list[tuple[str, str]]:
    """(panel title, raw expr) for every panel target, plus label_values() selectors."""
    board: dict[str, Any] = json.loads(path.read_text())
    found = [
        (panel["title"], target["expr"])
        for panel in board["panels"]
        for target in panel.get("targets", [])
    ]
    for var in board["templating"]["list"]:
        query = var.get("query")
        if isinstance(query, dict):
            match = re.fullmatch(r"label_values\((.+),\s*\w+\)", query["query"])
            assert match, f"{path.name}: variable {var['name']} is not label_values(...)"
            found.append((f"variable {var['name']}", match.group(1)))
    return found


def alert_exprs() -> dict[str, str]:
    """alert name -> expr, read with a regex (no YAML library in the product's deps)."""
    text = ALERTS.read_text()
    exprs: dict[str, str] = {}
    for block in re.split(r"\n\s*- alert: ", text)[1:]:
        name = block.split("\n", 1)[0].strip()
        match = re.search(r"expr: (?:\|\n)?(.*?)\n\s*(?:for|labels):", block, re.DOTALL)
        assert match, f"no expr for {name}"
        exprs[name] = " ".join(line.strip() for line in match.group(1).splitlines())
    return exprs


def all_exprs() -> list[tuple[str, str]]:
    found = [
        (f"{p.name}: {title}", grafana_to_promql(e))
        for p in DASHBOARDS
        for title, e in dashboard_targets(p)
    ]
    found += [(f"alerts.yml: {name}", expr) for name, expr in alert_exprs().items()]
    return found


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (strings, matchers, ranges and groupings removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or match.group(0) in _KEYWORDS:
            continue
        names.add(match.group(0))
    return names


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode()


async def until_ready(port: int, within: float = 60.0) -> None:
    """Until the worker's /readyz on ``port`` answers 200."""
    deadline = time.monotonic() + within
    while True:
        try:
            status, body = await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/readyz")
        except OSError as err:
            status, body = 0, str(err)
        if status == 200:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"port {port} not ready: {status} {body}")
        await asyncio.sleep(0.3)


def exposed_names(exposition: str) -> set[str]:
    """Every sample name in a /metrics page, plus declared counters' ``_total`` names."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        names.add(family.name)
    return names
