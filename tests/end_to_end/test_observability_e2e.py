"""End to end: workers as processes, payments, /metrics, health, a real Prometheus, and
traces exported by OTLP."""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from devstack.ports import free_port
from devstack.stack import Stack
from main_service.starter import run_payments
from tests.conftest import scratch_database
from tests.support.otlp_collector import OtlpCollector
from tests.support.processes import stop_tree
from tests.support.promql import (
    DASHBOARDS,
    SYNTHETIC,
    all_exprs,
    dashboard_targets,
    exposed_names,
    grafana_to_promql,
    http_get,
    metric_names,
    tool,
    until_ready,
)
from write_batcher._spans import BUFFER_SPAN, FLUSH_SPAN, WRITE_SPAN
from write_batcher.contract import WRITE_ACTIVITY

JOBS = ("main-service", "batcher-service")


@dataclass
class Run:
    ports: dict[str, int]
    pids: dict[str, int]
    # None where Prometheus is not installed: only the tests that query it skip (fail in CI).
    prometheus: str | None
    completed: int
    collector: OtlpCollector

    @property
    def prometheus_url(self) -> str:
        tool("prometheus")
        assert self.prometheus is not None
        return self.prometheus


async def _get(url: str) -> tuple[int, str]:
    return await asyncio.to_thread(http_get, url)


@pytest.fixture(scope="module")
async def fresh_db(pg_server_url: str) -> AsyncIterator[str]:
    async with scratch_database(pg_server_url, "wb_obs") as url:
        yield url


PROMETHEUS_CONFIG = """global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: main-service
    static_configs: [{{targets: ["127.0.0.1:{main}"]}}]
  - job_name: batcher-service
    static_configs: [{{targets: ["127.0.0.1:{batcher}"]}}]
"""


def _start_prometheus(workdir: Path, ports: dict[str, int]) -> tuple[subprocess.Popen[bytes], str]:
    config = workdir / "prometheus.yml"
    config.write_text(
        PROMETHEUS_CONFIG.format(main=ports["main-service"], batcher=ports["batcher-service"])
    )
    port = free_port()
    log = (workdir / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc, f"http://127.0.0.1:{port}"


async def _query(prometheus_url: str, expr: str) -> list[dict[str, object]]:
    url = f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    status, body = await _get(url)
    assert status == 200, f"{expr}: {status} {body}"
    result: list[dict[str, object]] = json.loads(body)["data"]["result"]
    return result


async def _targets_up(prometheus_url: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            up = await _query(prometheus_url, "up == 1")
        except (OSError, AssertionError):
            up = []
        if len(up) == len(JOBS):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"Prometheus does not see both workers up: {up}")
        await asyncio.sleep(0.5)


async def _scraped_since(prometheus_url: str, since: float, within: float = 60.0) -> None:
    """Until Prometheus holds a scrape of every job taken after ``since`` (epoch seconds)."""
    deadline = time.monotonic() + within
    while True:
        result = await _query(prometheus_url, "timestamp(up)")
        stamps = [float(sample["value"][1]) for sample in result]  # type: ignore[index]
        if len(stamps) == len(JOBS) and min(stamps) > since:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"no scrape of every job since {since}: {stamps}")
        await asyncio.sleep(0.5)


@pytest.fixture(scope="module")
async def e2e(
    temporal_env: WorkflowEnvironment, fresh_db: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Run]:
    """Both workers as processes on default queues, scraped by Prometheus during 40 payments."""
    address = temporal_env.client.service_client.config.target_host
    workdir = tmp_path_factory.mktemp("obs-e2e")
    stack = Stack(
        workdir / "stack", database_url=fresh_db, temporal_address=address, persist_temporal=False
    )
    prometheus: subprocess.Popen[bytes] | None = None
    collector = OtlpCollector(workdir / "spans.jsonl").start()
    # Both workers trace, exporting by OTLP/gRPC every half second.
    tracing = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "500"}
    try:
        stack.start()
        main = stack.start_worker("main_service", **tracing)
        batcher = stack.start_worker("batcher_service", BATCH_MAX_INTERVAL_SECONDS="0.3", **tracing)
        ports = {
            "main-service": int(main.env["METRICS_PORT"]),
            "batcher-service": int(batcher.env["METRICS_PORT"]),
        }
        assert main.pid is not None and batcher.pid is not None
        pids = {"main-service": main.pid, "batcher-service": batcher.pid}
        for port in ports.values():
            await until_ready(port)
        prometheus_url = None
        if shutil.which("prometheus"):
            prometheus, prometheus_url = _start_prometheus(workdir, ports)
            await _targets_up(prometheus_url)
        client = await Client.connect(address)
        report = await run_payments(client, 40, concurrency=10)
        assert report.completed == 40, report.summary()
        if prometheus_url is not None:
            # Scrapes taken after the last write: the queries below see the final counts.
            await _scraped_since(prometheus_url, time.time())
        yield Run(ports, pids, prometheus_url, report.completed, collector)
    finally:
        try:
            if prometheus is not None:
                await asyncio.to_thread(stop_tree, prometheus.pid)
                prometheus.wait()
        finally:
            try:
                stack.stop()
            finally:
                collector.stop()


async def test_health_endpoints_answer_on_both_workers(e2e: Run) -> None:
    for job, port in e2e.ports.items():
        assert await _get(f"http://127.0.0.1:{port}/healthz") == (200, "ok\n"), job
        status, body = await _get(f"http://127.0.0.1:{port}/readyz")
        assert status == 200, f"{job}: {body}"
        assert "temporal: ok" in body
    _, body = await _get(f"http://127.0.0.1:{e2e.ports['batcher-service']}/readyz")
    assert "postgres: ok" in body


async def test_every_metric_in_dashboards_and_alerts_is_exported(e2e: Run) -> None:
    exposed: set[str] = set()
    for port in e2e.ports.values():
        status, text = await _get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        exposed |= exposed_names(text)
    used = {name for _where, expr in all_exprs() for name in metric_names(expr)}
    assert {"write_batcher_rows_total", "temporal_num_pollers"} <= used
    missing = sorted(used - exposed - SYNTHETIC)
    assert not missing, f"used by dashboards/alerts but not exported: {missing}"


async def test_prometheus_returns_data_for_the_key_dashboard_queries(e2e: Run) -> None:
    board = next(p for p in DASHBOARDS if p.name == "write-batching.json")
    targets = dashboard_targets(board)
    for title in ("Write throughput", "Batch size", "Caller write latency"):
        exprs = [e for t, e in targets if t.startswith(title)]
        assert exprs, title
        # p99 for the latency panel; the first target elsewhere.
        expr = grafana_to_promql(exprs[-1] if title.startswith("Caller") else exprs[0], "1m")
        result = await _query(e2e.prometheus_url, expr)
        values = [float(sample["value"][1]) for sample in result]  # type: ignore[index]
        assert any(math.isfinite(v) and v > 0 for v in values), f"{title}: {expr} -> {result}"


def _cpu_ticks(pid: int) -> int:
    """utime + stime of a process in clock ticks, /proc/<pid>/stat's fields 14 and 15."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces
    return int(fields[11]) + int(fields[12])


def _samples(exposition: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if not sample.labels
    }


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process_* come from /proc")
async def test_each_worker_exports_its_own_cpu_memory_and_file_descriptors(e2e: Run) -> None:
    for job, port in e2e.ports.items():
        pid = e2e.pids[job]
        before = _cpu_ticks(pid)
        status, text = await _get(f"http://127.0.0.1:{port}/metrics")
        after = _cpu_ticks(pid)
        assert status == 200, job
        found = _samples(text)
        # Read from the worker's /proc between two reads of ours: the series describe that
        # process, not the test's or another one. Compared in ticks: the collector adds
        # utime and stime as floats.
        ticks = round(found["process_cpu_seconds_total"] * os.sysconf("SC_CLK_TCK"))
        assert before <= ticks <= after, (job, before, ticks, after)
        assert ticks > 0, job
        assert found["process_resident_memory_bytes"] > 10 * 2**20, job
        assert 0 < found["process_open_fds"] <= found["process_max_fds"], job


async def test_prometheus_returns_data_for_the_new_sdk_dashboard_panels(e2e: Run) -> None:
    """The CPU / Memory row per job, and replay latency (recorded on every workflow task)."""
    board = next(p for p in DASHBOARDS if p.name == "temporal-sdk-workers.json")
    targets = dict(dashboard_targets(board))
    per_job = ("CPU usage", "Memory usage", "Open file descriptors")
    for title in (*per_job, "Workflow Task Replay Latency (p95)"):
        expr = grafana_to_promql(targets[title], "1m")
        result = await _query(e2e.prometheus_url, expr)
        values = [float(sample["value"][1]) for sample in result]  # type: ignore[index]
        assert values and all(math.isfinite(v) and v > 0 for v in values), f"{title}: {result}"
        series: list[dict[str, str]] = [sample["metric"] for sample in result]  # type: ignore[misc]
        if title in per_job:
            assert sorted(m["job"] for m in series) == sorted(JOBS), f"{title}: {result}"
        else:
            types = {m["workflow_type"] for m in series}
            assert types == {"PaymentWorkflow", "WriteBatcherWorkflow"}, f"{title}: {result}"


async def test_one_trace_follows_a_write_across_both_workers_by_otlp(e2e: Run) -> None:
    """Each worker exports its own spans; they meet in one trace per write."""
    deadline = time.monotonic() + 30
    while True:
        received = e2e.collector.spans()
        by_service: dict[str, dict[str, set[str]]] = {}
        for r in received:
            by_service.setdefault(r.service, {}).setdefault(r.name, set()).add(r.trace_id)
        main = by_service.get("main-service", {})
        batcher = by_service.get("batcher-service", {})
        writes = main.get(WRITE_SPAN, set())
        joined = {
            name: writes & batcher.get(name, set())
            for name in (f"RunActivity:{WRITE_ACTIVITY}", BUFFER_SPAN, FLUSH_SPAN)
        }
        if len(writes) == e2e.completed and all(joined.values()):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(writes)} writes traced; in their traces: {joined}")
        await asyncio.sleep(0.5)
    # Every write's intake and buffering are in its own trace; each flush in one of them.
    assert len(joined[f"RunActivity:{WRITE_ACTIVITY}"]) == e2e.completed
    assert len(joined[BUFFER_SPAN]) == e2e.completed
    # The payment's workflow span has its real duration (the legacy interceptor's had none).
    runs = [r for r in received if r.name == "RunWorkflow:PaymentWorkflow"]
    assert len(runs) == e2e.completed
    assert all(r.end_ns > r.start_ns for r in runs)
