"""Entry point: ``python -m main_service`` runs the main worker until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from main_service.settings import MainSettings
from main_service.worker import build_worker
from write_batcher_kit.client import TemporalUnreachableError, connect
from write_batcher_kit.lifecycle import configure_logging, exit_process, wait_for_stop_signal
from write_batcher_kit.settings import SettingsError
from write_batcher_kit.telemetry import setup_telemetry, temporal_ready

log = logging.getLogger("main_service")


async def serve(settings: MainSettings) -> None:
    common = settings.common
    # The Runtime must exist before any client: it is where the SDK's metrics go.
    telemetry = setup_telemetry(common.service_name, common.otlp_endpoint)
    try:
        # Client interceptors that are also worker interceptors reach the worker too.
        client = await connect(
            common.temporal, runtime=telemetry.runtime, interceptors=telemetry.interceptors
        )
        worker = build_worker(
            client,
            tables=settings.tables,
            shards=settings.batcher_shards,
            max_row_bytes=settings.max_row_bytes,
            ack_timeout_seconds=settings.ack_timeout_seconds,
            submit_linger_seconds=settings.submit_linger_seconds,
            ack_poll_seconds=settings.ack_poll_seconds,
            max_concurrent_activities=settings.max_concurrent_activities,
            max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        )
        checks = {"temporal": temporal_ready(client, worker)}
        async with telemetry.serving(common.metrics_port, checks), worker:
            log.info("main worker running on %s", common.temporal["target_host"])
            await wait_for_stop_signal()
    finally:
        telemetry.shutdown()


def main() -> int:
    try:
        settings = MainSettings.from_env(os.environ)
    except SettingsError as err:
        print(f"main-service: {err}", file=sys.stderr)
        return 2
    configure_logging(settings.common.log_level)
    try:
        asyncio.run(serve(settings))
    except TemporalUnreachableError as err:
        print(f"main-service: {err}", file=sys.stderr)
        return 2
    log.info("main worker stopped")
    return 0


if __name__ == "__main__":
    exit_process(main())
