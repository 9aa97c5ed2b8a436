"""Scrape jobs, alerts and the chart's PrometheusRule agree by construction (rendered, not read)."""

from __future__ import annotations

import re
from typing import Any

import yaml

try:
    from tests import deploy_support as ds
    from tests.promql import ALERTS, all_exprs
except ImportError:  # tests/ on sys.path instead of the repository root
    import deploy_support as ds  # type: ignore[no-redef]
    from promql import ALERTS, all_exprs  # type: ignore[no-redef]

COMPONENTS = ("main", "batcher")
_SELECTOR = re.compile(r"\{([^{}]*)\}")
_MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
# Labels Prometheus puts on every scraped series from the target (not from the metric).
TARGET_LABELS = ("job",)


def _monitoring_objects() -> list[dict[str, Any]]:
    values = ds.load_full_values()
    return list(ds.manifests(ds.render(values)))


def rendered_jobs(objs: list[dict[str, Any]]) -> dict[str, str]:
    """component -> the job its scraped series get from the chart's ServiceMonitor."""
    jobs = {}
    for obj in objs:
        if obj["kind"] != "ServiceMonitor":
            continue
        component = obj["metadata"]["labels"]["app.kubernetes.io/component"]
        (endpoint,) = obj["spec"]["endpoints"]
        relabel = [r for r in endpoint.get("relabelings", []) if r.get("targetLabel") == "job"]
        assert relabel, f"{obj['metadata']['name']}: the job would be the Service's name"
        assert "jobLabel" not in obj["spec"]
        jobs[component] = relabel[-1]["replacement"]
    return jobs


def compose_jobs() -> dict[str, str]:
    config = yaml.safe_load((ds.ROOT / "deploy" / "compose" / "prometheus.yml").read_text())
    jobs = {}
    for scrape in config["scrape_configs"]:
        for sd in scrape.get("dns_sd_configs", []):
            for name in sd["names"]:
                jobs[name] = scrape["job_name"]
    return {c: jobs[c] for c in COMPONENTS}


def job_matchers(expr: str) -> list[tuple[str, str]]:
    """(operator, value) of every job matcher in an expression's selectors."""
    found = []
    for selector in _SELECTOR.findall(expr):
        for label, op, value in _MATCHER.findall(selector):
            if label in TARGET_LABELS:
                found.append((op, value))
    return found


def matches(op: str, value: str, job: str) -> bool:
    if op == "=":
        return job == value
    if op == "!=":
        return job != value
    hit = re.fullmatch(value, job) is not None
    return hit if op == "=~" else not hit


def test_one_job_name_per_component_everywhere() -> None:
    objs = _monitoring_objects()
    jobs = rendered_jobs(objs)
    assert set(jobs) == set(COMPONENTS)
    assert jobs == compose_jobs()
    for obj in objs:
        if obj["kind"] == "Deployment":
            component = obj["metadata"]["labels"]["app.kubernetes.io/component"]
            env = {e["name"]: e.get("value") for e in ds.containers(obj)[0]["env"]}
            assert env["OTEL_SERVICE_NAME"] == jobs[component]
    # The workers' own default service names (used when OTEL_SERVICE_NAME is unset) too.
    from batcher_service.settings import BatcherSettings  # noqa: PLC0415
    from main_service.settings import MainSettings  # noqa: PLC0415

    tables = {"WRITE_TABLES_FILE": str(ds.TABLES_FILE)}
    main = MainSettings.from_env(tables)
    batcher = BatcherSettings.from_env({**tables, "DATABASE_URL": "postgresql://u@h/d"})
    assert {"main": main.common.service_name, "batcher": batcher.common.service_name} == jobs


def test_rendered_service_monitors_satisfy_every_alert_and_dashboard_selector() -> None:
    jobs = set(rendered_jobs(_monitoring_objects()).values())
    selected_somewhere = False
    for where, expr in all_exprs():
        for op, value in job_matchers(expr):
            if value.startswith("$") or value == ".*":
                continue  # a dashboard variable: "All" matches every job
            selected_somewhere = True
            hits = {job for job in jobs if matches(op, value, job)}
            assert hits, f"{where}: job{op}{value!r} selects none of {sorted(jobs)}"
    assert selected_somewhere  # WriteBatchingWorkerDown selects by job


def test_worker_down_covers_every_component() -> None:
    jobs = set(rendered_jobs(_monitoring_objects()).values())
    rules = yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
    (down,) = (r for r in rules if r["alert"] == "WriteBatchingWorkerDown")
    ((op, value),) = job_matchers(down["expr"])
    assert {job for job in jobs if matches(op, value, job)} == jobs


def test_prometheus_rule_ships_the_alerts_with_the_service_monitors_labels() -> None:
    objs = _monitoring_objects()
    (rule,) = (o for o in objs if o["kind"] == "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(ALERTS.read_text())
    monitors = [o for o in objs if o["kind"] == "ServiceMonitor"]
    extra = ds.load_full_values()["metrics"]["prometheusRule"]["additionalLabels"]
    assert extra == {"release": "kube-prometheus-stack"}
    for obj in [rule, *monitors]:
        # kube-prometheus-stack selects both by its release label.
        assert obj["metadata"]["labels"].items() >= extra.items()


def test_monitoring_objects_are_opt_in() -> None:
    kinds = {o["kind"] for o in ds.manifests(ds.render())}
    assert not kinds & {"ServiceMonitor", "PrometheusRule", "ScaledObject"}
