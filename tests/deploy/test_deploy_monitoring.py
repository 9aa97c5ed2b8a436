"""Scrape jobs, alerts and the chart's PrometheusRule agree by construction (rendered, not read)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.support import deploy_support as ds
from tests.support.promql import ALERTS, all_exprs

COMPONENTS = ("main", "batcher")
_SELECTOR = re.compile(r"\{([^{}]*)\}")
_MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
# Labels Prometheus puts on every scraped series from the target (not from the metric).
TARGET_LABELS = ("job",)
# What the Prometheus Operator gives a ServiceMonitor's target before its relabelings.
OPERATOR_TARGET = {
    "job": "wb-write-batcher-main",
    "instance": "10.0.0.7:9101",
    "namespace": "write-batcher",
    "service": "wb-write-batcher-main",
    "pod": "wb-write-batcher-main-5d9c",
    "container": "main",
    "endpoint": "metrics",
}
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


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


def relabel(labels: dict[str, str], rules: list[dict[str, Any]]) -> dict[str, str]:
    """Prometheus' target relabeling for the actions the chart uses (replace, labeldrop)."""
    out = dict(labels)
    for rule in rules:
        action = rule.get("action", "replace").lower()
        regex = re.compile(rule.get("regex", "(.*)"))
        if action == "labeldrop":
            out = {k: v for k, v in out.items() if not regex.fullmatch(k)}
            continue
        assert action == "replace", f"relabel() does not know {action}"
        source = rule.get("separator", ";").join(
            out.get(n, "") for n in rule.get("sourceLabels", [])
        )
        match = regex.fullmatch(source)
        if match is not None:
            out[rule["targetLabel"]] = match.expand(
                re.sub(r"\$\{?(\d+)\}?", r"\\\1", rule.get("replacement", "$1"))
            )
    return out


def series_labels_read() -> set[str]:
    """Labels the dashboards and alerts group or filter by, job and instance aside."""
    found: set[str] = set()
    for _where, expr in all_exprs():
        for grouping in _GROUPING.findall(expr):
            found.update(label.strip() for label in grouping.split(",") if label.strip())
        for selector in _SELECTOR.findall(expr):
            found.update(label for label, _op, _value in _MATCHER.findall(selector))
    return found - {"job", "instance", "le"}


def test_target_labels_leave_the_series_own_labels_alone() -> None:
    """Else Prometheus renames the series' label (the SDK's Temporal `namespace`) exported_*."""
    read = series_labels_read()
    assert {"namespace", "task_queue", "workflow_type"} <= read
    for obj in _monitoring_objects():
        if obj["kind"] != "ServiceMonitor":
            continue
        (endpoint,) = obj["spec"]["endpoints"]
        target = relabel(OPERATOR_TARGET, endpoint["relabelings"])
        assert not read & set(target), f"{obj['metadata']['name']}: {sorted(read & set(target))}"
        assert target["kubernetes_namespace"] == OPERATOR_TARGET["namespace"]
        assert target["job"] in {"main-service", "batcher-service"}


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
    main = MainSettings.from_env({})
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
