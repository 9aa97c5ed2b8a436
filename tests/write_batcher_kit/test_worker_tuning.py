"""Both workers built with the SDK's poller autoscaling and resource-based tuner, from the
services' settings, write a payment through a real dev server and PostgreSQL."""

from __future__ import annotations

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import PollerBehaviorAutoscaling, Worker, WorkerTuner

from batcher_service.settings import BatcherSettings
from batcher_service.shard.state import BatcherConfig
from devstack.schema import MAIN_TABLES_FILE
from main_service.payments import PaymentResult
from main_service.settings import MainSettings
from tests.support.harness import Queues, payment, running_workers
from write_batcher.contract import WriteOutcome
from write_batcher_kit.settings import WorkerTuning

# What the batcher's settings need besides tuning (the workers here get their pool and tables
# directly); main-service's need nothing.
DB = {
    "WRITE_TABLES_FILE": str(MAIN_TABLES_FILE),
    "DATABASE_URL": "postgresql://unused@localhost/unused",
}


def _check_config(worker: Worker, tuning: WorkerTuning) -> None:
    config = worker.config()
    if tuning.resources is not None:
        assert isinstance(config.get("tuner"), WorkerTuner)
        assert config.get("max_concurrent_activities") is None
    else:
        assert config.get("tuner") is None and config.get("max_concurrent_activities")
    if tuning.pollers is not None:
        assert config.get("workflow_task_poller_behavior") == tuning.pollers
        assert config.get("activity_task_poller_behavior") == tuning.pollers
    else:
        assert not isinstance(
            config.get("workflow_task_poller_behavior"), PollerBehaviorAutoscaling
        )


@pytest.mark.parametrize(
    "env",
    [
        {"WORKER_POLLER_AUTOSCALING": "true", "WORKER_POLLER_MIN": "2",
         "WORKER_POLLER_MAX": "8", "WORKER_POLLER_INITIAL": "2"},
        {"WORKER_TUNER": "resource-based"},
        {"WORKER_POLLER_AUTOSCALING": "true", "WORKER_TUNER": "resource-based",
         "WORKER_TUNER_TARGET_MEMORY": "0.9", "WORKER_TUNER_TARGET_CPU": "0.95"},
    ],
    ids=["poller-autoscaling", "resource-based-tuner", "both"],
)  # fmt: skip
async def test_tuned_workers_write_a_payment(
    temporal_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    queues: Queues,
    env: dict[str, str],
) -> None:
    main = MainSettings.from_env(env)
    batcher = BatcherSettings.from_env({**DB, **env})
    async with running_workers(
        temporal_env.client,
        db_pool,
        queues,
        BatcherConfig(),
        batcher_kwargs={"tuning": batcher.tuning},
        tuning=main.tuning,
    ) as h:
        assert h.main_worker is not None and h.batcher_worker is not None
        _check_config(h.main_worker, main.tuning)
        _check_config(h.batcher_worker, batcher.tuning)
        handle = await h.start_payment("tuned-1", payment(1))
        result: PaymentResult = await handle.result()
        assert result.outcome == WriteOutcome.WRITTEN
        assert [r["payment_id"] for r in await h.rows()] == ["p-1"]
