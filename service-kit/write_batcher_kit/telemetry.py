"""Telemetry for one worker process: SDK Runtime, metrics registry, tracing and the HTTP port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import CollectorRegistry, ProcessCollector
from temporalio.client import Client
from temporalio.contrib.opentelemetry import (
    OpenTelemetryPlugin,
    ReplaySafeTracerProvider,
    create_tracer_provider,
)
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.worker import Worker

from write_batcher_kit.http_server import HealthServer, ReadinessCheck
from write_batcher_kit.metrics_bridge import SdkMetricsCollector

log = logging.getLogger(__name__)

# Drained often enough that the SDK's buffer never fills, even under heavy load.
DRAIN_INTERVAL_SECONDS = 1.0


@dataclass
class Telemetry:
    """Create before any client: the Runtime carries the SDK metrics into ``registry``."""

    runtime: Runtime
    registry: CollectorRegistry
    sdk_metrics: SdkMetricsCollector
    tracer_provider: ReplaySafeTracerProvider | None = None
    # On the client: its workers (and their activities' client calls) trace too.
    plugins: list[OpenTelemetryPlugin] = field(default_factory=list)

    @contextlib.asynccontextmanager
    async def serving(
        self, port: int, checks: Mapping[str, ReadinessCheck]
    ) -> AsyncIterator[HealthServer | None]:
        """The /metrics, /healthz, /readyz endpoint plus the buffer drain; port 0 disables it."""
        drain = asyncio.create_task(self._drain_forever(), name="sdk metrics drain")
        server = None
        try:
            if port:
                server = await HealthServer(self.registry, checks, port=port).start()
            yield server
        finally:
            if server is not None:
                await server.stop()
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain

    async def _drain_forever(self) -> None:
        while True:
            await asyncio.sleep(DRAIN_INTERVAL_SECONDS)
            self.sdk_metrics.drain()

    def shutdown(self) -> None:
        """Flush spans still batched for export."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()


def tracer_provider_for(service_name: str, otlp_endpoint: str) -> ReplaySafeTracerProvider:
    """The SDK's replay-safe provider (workflow spans are not re-exported on replay), by OTLP."""
    # Imported here: the gRPC exporter is heavy and only needed when tracing is on.
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )

    provider = create_tracer_provider(resource=Resource.create({SERVICE_NAME: service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    return provider


def tracing_plugin(provider: ReplaySafeTracerProvider) -> OpenTelemetryPlugin:
    """Make ``provider`` the process's tracer provider and return the plugin that uses it.

    The plugin reads the global provider (workflow code calls ``get_tracer()`` directly), and
    OpenTelemetry sets it once per process: another one already in place is an error here,
    not spans lost later. Temporal's own spans (RunWorkflow, StartActivity, RunActivity,
    SignalWithStartWorkflow, HandleSignal...) are on: without them only context propagates.
    """
    trace.set_tracer_provider(provider)
    if trace.get_tracer_provider() is not provider:
        raise RuntimeError(
            "another OpenTelemetry tracer provider is already installed in this process; "
            "tracing through Temporal needs the SDK's ReplaySafeTracerProvider"
        )
    return OpenTelemetryPlugin(add_temporal_spans=True)


def setup_telemetry(service_name: str, otlp_endpoint: str | None) -> Telemetry:
    """SDK metrics land in our registry (names: see deploy/grafana/README.md); OTLP is opt-in."""
    sdk_metrics = SdkMetricsCollector()
    registry = CollectorRegistry()
    registry.register(sdk_metrics)
    # A private registry gets no default collectors: without this the workers' CPU, memory
    # and file descriptors (process_*, read from /proc, so Linux only) are nowhere.
    ProcessCollector(registry=registry)
    runtime = Runtime(
        telemetry=TelemetryConfig(
            metrics=sdk_metrics.buffer,
            # Prometheus' job/instance labels tell services and pods apart; a constant
            # service_name="temporal-core-sdk" label would only add noise.
            attach_service_name=False,
            metric_prefix="temporal_",
        )
    )
    telemetry = Telemetry(runtime, registry, sdk_metrics)
    if otlp_endpoint:
        telemetry.tracer_provider = tracer_provider_for(service_name, otlp_endpoint)
        telemetry.plugins.append(tracing_plugin(telemetry.tracer_provider))
        log.info("exporting traces to %s as %s", otlp_endpoint, service_name)
    return telemetry


def temporal_ready(client: Client, worker: Worker) -> ReadinessCheck:
    """Ready when the worker polls and the frontend answers its gRPC health check."""

    async def check() -> None:
        if not worker.is_running:
            raise RuntimeError("worker is not running")
        healthy = await client.service_client.check_health(timeout=timedelta(seconds=2))
        if not healthy:
            raise RuntimeError("Temporal frontend reports not serving")

    return check
