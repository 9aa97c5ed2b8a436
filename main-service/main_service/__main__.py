"""Entry point: ``python -m main_service`` runs the main worker until SIGINT/SIGTERM."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from functools import partial

from temporalio.client import Client

from main_service.settings import MainSettings
from main_service.worker import build_worker
from write_batcher_kit.lifecycle import exit_process
from write_batcher_kit.service import Served, serve, service_main
from write_batcher_kit.telemetry import Telemetry


@asynccontextmanager
async def main_worker(
    settings: MainSettings, client: Client, telemetry: Telemetry
) -> AsyncIterator[Served]:
    yield Served(
        build_worker(
            client,
            max_concurrent_activities=settings.max_concurrent_activities,
            max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
            tuning=settings.tuning,
            versioning=settings.versioning,
            **asdict(settings.write),
        )
    )


async def run(settings: MainSettings) -> None:
    await serve(settings.common, partial(main_worker, settings), name="main")


if __name__ == "__main__":
    exit_process(service_main("main-service", MainSettings.from_env, run))
