"""The one start-up skeleton of a worker process: settings, telemetry, client, serve, stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from temporalio.client import Client
from temporalio.worker import Worker

from write_batcher_kit.client import TemporalUnreachableError, connect
from write_batcher_kit.http_server import PortInUseError, ReadinessCheck
from write_batcher_kit.lifecycle import configure_logging, wait_for_stop_signal
from write_batcher_kit.settings import CommonSettings, SettingsError
from write_batcher_kit.telemetry import Telemetry, setup_telemetry, temporal_ready

log = logging.getLogger(__name__)

# A worker that has not stopped this long after its graceful shutdown timeout is stuck (a
# workflow task that never yields holds its thread): the process exits anyway.
SHUTDOWN_MARGIN_SECONDS = 10.0


class ServiceSettings(Protocol):
    """What the skeleton reads of a service's settings."""

    @property
    def common(self) -> CommonSettings: ...


@dataclass
class Served:
    """A built worker and the readiness checks it adds to Temporal's."""

    worker: Worker
    checks: dict[str, ReadinessCheck] = field(default_factory=dict)


# Builds the worker on a connected client; a context manager, so what it opens (a database
# pool) is closed after the worker has stopped.
WorkerBuilder = Callable[[Client, Telemetry], AbstractAsyncContextManager[Served]]
S = TypeVar("S", bound=ServiceSettings)


async def serve(common: CommonSettings, build: WorkerBuilder, *, name: str) -> None:
    """Run one worker until SIGINT or SIGTERM, with /metrics, /healthz and /readyz."""
    # The Runtime must exist before any client: it is where the SDK's metrics go.
    telemetry = setup_telemetry(common.service_name, common.otlp_endpoint)
    try:
        # Client plugins reach the client's workers too (and their activities' client calls).
        client = await connect(
            common.temporal, runtime=telemetry.runtime, plugins=telemetry.plugins
        )
        async with build(client, telemetry) as served:
            checks = {"temporal": temporal_ready(client, served.worker), **served.checks}
            async with telemetry.serving(common.metrics_port, checks):
                log.info("%s worker running on %s", name, common.temporal["target_host"])
                await run_until_stopped(served.worker)
    finally:
        telemetry.shutdown()


async def run_until_stopped(worker: Worker) -> None:
    """Poll until a stop signal, then shut down gracefully, but never hang on a stuck task."""
    running = asyncio.create_task(worker.run(), name="worker")
    stop = asyncio.create_task(wait_for_stop_signal(), name="stop signal")
    await asyncio.wait({running, stop}, return_when=asyncio.FIRST_COMPLETED)
    if running.done():
        stop.cancel()
        running.result()  # a worker that ended by itself failed: raise its error
        return
    grace = worker.config().get("graceful_shutdown_timeout")
    bound = (grace.total_seconds() if grace else 0.0) + SHUTDOWN_MARGIN_SECONDS
    try:
        await asyncio.wait_for(worker.shutdown(), bound)
    except TimeoutError:
        log.error("worker did not stop within %.0f s of the stop signal; exiting", bound)
        running.cancel()
        return
    with contextlib.suppress(asyncio.CancelledError):
        await running


def service_main(
    name: str,
    settings_from_env: Callable[[Mapping[str, str]], S],
    run: Callable[[S], Coroutine[Any, Any, None]],
    *,
    refusals: tuple[type[Exception], ...] = (),
) -> int:
    """Settings read once, logging, the service's event loop; exit codes for orchestrators.

    2: a setting, an unreachable Temporal frontend, a metrics port in use or one of
    ``refusals`` (one line on stderr, no traceback); 0: stopped by a signal.
    """
    try:
        settings = settings_from_env(os.environ)
    except SettingsError as err:
        print(f"{name}: {err}", file=sys.stderr)
        return 2
    configure_logging(settings.common.log_level)
    expected: tuple[type[Exception], ...] = (TemporalUnreachableError, PortInUseError, *refusals)
    try:
        asyncio.run(run(settings))
    except expected as err:
        print(f"{name}: {err}", file=sys.stderr)
        return 2
    log.info("%s stopped", name)
    return 0
