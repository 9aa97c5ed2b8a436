"""batcher-service settings: tables, database and batching policy, from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import AfterValidator, Field

from batcher_service.backfill.sources import BackfillSources
from batcher_service.intake.config import IntakeConfig
from batcher_service.shard.carry import MAX_ROW_BYTES_LIMIT
from batcher_service.shard.state import BatcherConfig
from write_batcher import TableSpec
from write_batcher_kit.settings import (
    CommonSettings,
    Env,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    SettingsError,
    TablesEnv,
    WorkerTuning,
    WorkerTuningEnv,
    load_env,
    slot_variables,
    tables_from_file,
    var,
    variable_names,
)
from write_batcher_kit.versioning import WorkerVersioning, WorkerVersioningEnv


def _database_url(url: str) -> str:
    """Reject a DSN asyncpg could not use; messages never contain the URL itself."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("must start with postgresql:// or postgres://")
    hosts = parts.netloc.rpartition("@")[2]
    if not hosts:
        if "host" in parse_qs(parts.query):
            return url  # a Unix socket directory given as ?host=
        raise ValueError("names no host (postgresql://user:password@host:5432/database)")
    for host in hosts.split(","):
        parsed = urlsplit(f"//{host}")
        try:
            parsed.port  # noqa: B018  (parsing the port is the check)
        except ValueError:
            raise ValueError("has a port that is not a number from 0 to 65535") from None
        if not parsed.hostname:
            raise ValueError("names no host (postgresql://user:password@host:5432/database)")
    return url


_B = BatcherConfig()
_I = IntakeConfig()


class _BatcherEnv(TablesEnv):
    database_url: Annotated[str, AfterValidator(_database_url)] = var("DATABASE_URL")
    database_pool_size: PositiveInt = var("DATABASE_POOL_SIZE", 10)
    # Fixed slots: WORKER_TUNER=resource-based replaces them.
    max_concurrent_activities: PositiveInt = var("WORKER_MAX_CONCURRENT_ACTIVITIES", 50)
    request_retention_hours: PositiveFloat = var("REQUEST_RETENTION_HOURS", 168.0)


class _PolicyEnv(Env):
    """The fields of BatcherConfig, each from its variable; defaults are BatcherConfig's."""

    max_batch_size: PositiveInt = var("BATCH_MAX_SIZE", _B.max_batch_size)
    max_wait_seconds: PositiveFloat = var("BATCH_MAX_WAIT_SECONDS", _B.max_wait_seconds)
    mode: Literal["fixed", "adaptive"] = var("BATCH_MODE", _B.mode)
    min_interval_seconds: PositiveFloat = var("BATCH_MIN_INTERVAL_SECONDS", _B.min_interval_seconds)
    max_interval_seconds: PositiveFloat = var("BATCH_MAX_INTERVAL_SECONDS", _B.max_interval_seconds)
    full_load_rate: PositiveFloat = var("BATCH_FULL_LOAD_RATE", _B.full_load_rate)
    max_pending: PositiveInt = var("BATCHER_MAX_PENDING", _B.max_pending)
    # Temporal refuses signals past 10,000 per run: keep room for the run's own events.
    max_signals_per_run: Annotated[int, Field(gt=0, le=9_000)] = var(
        "BATCHER_MAX_SIGNALS_PER_RUN", _B.max_signals_per_run
    )
    max_inflight_flushes: PositiveInt = var("BATCHER_MAX_INFLIGHT_FLUSHES", _B.max_inflight_flushes)
    dedup_window: PositiveInt = var("BATCHER_DEDUP_WINDOW", _B.dedup_window)
    flush_timeout_seconds: PositiveFloat = var(
        "BATCH_FLUSH_TIMEOUT_SECONDS", _B.flush_timeout_seconds
    )


class _IntakeEnv(Env):
    """The fields of IntakeConfig: how callers' writes are checked, routed and coalesced."""

    shards: PositiveInt = var("BATCHER_SHARDS", _I.shards)
    id_prefix: Annotated[str, Field(min_length=1)] = var("BATCHER_ID_PREFIX", _I.id_prefix)
    linger_seconds: NonNegativeFloat = var("SUBMIT_LINGER_SECONDS", _I.linger_seconds)
    max_row_bytes: Annotated[int, Field(gt=0, le=MAX_ROW_BYTES_LIMIT)] = var(
        "MAX_ROW_BYTES", _I.max_row_bytes
    )


@dataclass(frozen=True)
class BatcherSettings:
    """batcher-service: the tables, the database and the batching policy."""

    common: CommonSettings
    tables_file: Path
    database_url: str = field(repr=False)
    database_pool_size: int
    batcher: BatcherConfig
    max_concurrent_activities: int
    request_retention_hours: float
    tables: dict[str, TableSpec] = field(default_factory=dict, repr=False)
    # Named backfill sources (BACKFILL_SOURCE_<NAME>, BACKFILL_SOURCES_DIR): never in history.
    backfill_sources: BackfillSources = field(default_factory=BackfillSources, repr=False)
    tuning: WorkerTuning = field(default_factory=WorkerTuning)
    # TEMPORAL_DEPLOYMENT_NAME / TEMPORAL_WORKER_BUILD_ID: unset, an unversioned worker.
    versioning: WorkerVersioning = field(default_factory=WorkerVersioning)
    intake: IntakeConfig = field(default_factory=IntakeConfig)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BatcherSettings:
        parsed = load_env(_BatcherEnv, env)
        batcher = BatcherConfig(**load_env(_PolicyEnv, env).model_dump())
        if batcher.max_interval_seconds < batcher.min_interval_seconds:
            raise SettingsError(
                "BATCH_MAX_INTERVAL_SECONDS must be at least BATCH_MIN_INTERVAL_SECONDS"
            )
        return cls(
            common=CommonSettings.from_env(
                env, default_metrics_port=9102, default_service_name="batcher-service"
            ),
            tables=tables_from_file(parsed.tables_file),
            batcher=batcher,
            intake=IntakeConfig(**load_env(_IntakeEnv, env).model_dump()),
            backfill_sources=BackfillSources.from_env(env),
            # Autoscaled pollers: every caller's write lands on this worker's task queue, in
            # bursts that five fixed polls take seconds to drain (docs/performance.md).
            tuning=WorkerTuning.from_env(env, slot_variables(_BatcherEnv), autoscale_pollers=True),
            versioning=WorkerVersioning.from_env(env, default_deployment_name="batcher-service"),
            **parsed.model_dump(),
        )


def database_url_from_env(env: Mapping[str, str]) -> str:
    """DATABASE_URL alone, for commands that need only the database (never echoed)."""
    url = env.get("DATABASE_URL", "").strip()
    if not url:
        raise SettingsError("DATABASE_URL is required (e.g. postgresql://user:pass@host/db)")
    try:
        return _database_url(url)
    except ValueError as err:
        raise SettingsError(f"DATABASE_URL {err}") from None


def batcher_variable_names() -> frozenset[str]:
    """Every variable batcher-service reads."""
    return variable_names(_BatcherEnv, _PolicyEnv, _IntakeEnv, WorkerTuningEnv, WorkerVersioningEnv)
