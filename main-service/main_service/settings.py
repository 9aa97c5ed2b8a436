"""main-service settings: the tables its workflows write and the write library's knobs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import Field

from write_batcher import TableSpec
from write_batcher_kit.settings import (
    CommonSettings,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    TablesEnv,
    load_env,
    tables_from_file,
    var,
    variable_names,
)


class _MainEnv(TablesEnv):
    ack_timeout_seconds: PositiveFloat = var("ACK_TIMEOUT_SECONDS", 120.0)
    max_row_bytes: PositiveInt = var("MAX_ROW_BYTES", 16 * 1024)
    batcher_shards: PositiveInt = var("BATCHER_SHARDS", 1)
    submit_linger_seconds: NonNegativeFloat = var("SUBMIT_LINGER_SECONDS", 0.2)
    ack_poll_seconds: Annotated[float, Field(ge=0.01, le=10)] = var("ACK_POLL_SECONDS", 0.2)
    max_concurrent_activities: PositiveInt = var("WORKER_MAX_CONCURRENT_ACTIVITIES", 200)
    max_concurrent_workflow_tasks: PositiveInt = var("WORKER_MAX_CONCURRENT_WORKFLOW_TASKS", 200)


@dataclass(frozen=True)
class MainSettings:
    """main-service: the tables callers write, how writes are routed, how long callers wait."""

    common: CommonSettings
    tables_file: Path
    ack_timeout_seconds: float
    max_row_bytes: int
    batcher_shards: int
    submit_linger_seconds: float
    ack_poll_seconds: float
    max_concurrent_activities: int
    max_concurrent_workflow_tasks: int
    tables: dict[str, TableSpec] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MainSettings:
        parsed = load_env(_MainEnv, env)
        return cls(
            common=CommonSettings.from_env(
                env, default_metrics_port=9101, default_service_name="main-service"
            ),
            tables=tables_from_file(parsed.tables_file),
            **parsed.model_dump(),
        )


def main_variable_names() -> frozenset[str]:
    """Every variable main-service reads."""
    return variable_names(_MainEnv)
