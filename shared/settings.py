"""Settings read from the environment once, in each entry point's ``main()``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from temporalio.envconfig import ClientConfig

from shared.payloads import BatcherConfig

T = TypeVar("T")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _get(env: Mapping[str, str], name: str, parse: Callable[[str], T], default: T) -> T:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse(raw.strip())
    except ValueError as err:
        raise SettingsError(f"{name}={raw!r} is malformed: {err}") from None


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be a positive integer")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be zero or a positive integer")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a positive number")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:
        raise ValueError("must be zero or a positive number")
    return value


def _choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return raw

    return parse


def _log_level(raw: str) -> str:
    return _choice("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")(raw.upper())


def _temporal_connect(env: Mapping[str, str]) -> dict[str, Any]:
    """Temporal connection from the SDK's own env config (TEMPORAL_ADDRESS, TLS, API key...)."""
    try:
        config = ClientConfig.load_client_connect_config(override_env_vars=dict(env))
    except Exception as err:
        raise SettingsError(f"TEMPORAL_* settings are invalid: {err}") from None
    connect = dict(config)
    connect.setdefault("target_host", "localhost:7233")
    connect.setdefault("namespace", "default")
    return connect


@dataclass(frozen=True)
class CommonSettings:
    """What every worker reads: Temporal connection, logging, the metrics/health port."""

    temporal: dict[str, Any]
    log_level: str
    metrics_port: int
    otlp_endpoint: str | None
    service_name: str = "write-batcher"

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        default_metrics_port: int,
        default_service_name: str = "write-batcher",
    ) -> CommonSettings:
        return cls(
            temporal=_temporal_connect(env),
            log_level=_get(env, "LOG_LEVEL", _log_level, "INFO"),
            metrics_port=_get(env, "METRICS_PORT", _non_negative_int, default_metrics_port),
            otlp_endpoint=env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None,
            service_name=_get(env, "OTEL_SERVICE_NAME", str, default_service_name),
        )


@dataclass(frozen=True)
class MainSettings:
    """main-service: how callers route writes and how long they wait for an ack."""

    common: CommonSettings
    ack_timeout_seconds: float
    max_row_bytes: int
    batcher_shards: int
    submit_linger_seconds: float
    submit_transport: str
    max_concurrent_activities: int
    max_concurrent_workflow_tasks: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MainSettings:
        return cls(
            common=CommonSettings.from_env(
                env, default_metrics_port=9101, default_service_name="main-service"
            ),
            ack_timeout_seconds=_get(env, "ACK_TIMEOUT_SECONDS", _positive_float, 120.0),
            max_row_bytes=_get(env, "MAX_ROW_BYTES", _positive_int, 16 * 1024),
            batcher_shards=_get(env, "BATCHER_SHARDS", _positive_int, 1),
            submit_linger_seconds=_get(env, "SUBMIT_LINGER_SECONDS", _non_negative_float, 0.2),
            submit_transport=_get(env, "SUBMIT_TRANSPORT", _choice("update", "signal"), "update"),
            max_concurrent_activities=_get(
                env, "WORKER_MAX_CONCURRENT_ACTIVITIES", _positive_int, 200
            ),
            max_concurrent_workflow_tasks=_get(
                env, "WORKER_MAX_CONCURRENT_WORKFLOW_TASKS", _positive_int, 200
            ),
        )


@dataclass(frozen=True)
class BatcherSettings:
    """batcher-service: the database and the batching policy."""

    common: CommonSettings
    database_url: str
    database_pool_size: int
    batcher: BatcherConfig
    max_concurrent_activities: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BatcherSettings:
        database_url = env.get("DATABASE_URL", "").strip()
        if not database_url:
            raise SettingsError("DATABASE_URL is required (e.g. postgresql://user:pass@host/db)")
        if not database_url.startswith(("postgresql://", "postgres://")):
            raise SettingsError("DATABASE_URL must start with postgresql:// or postgres://")
        defaults = BatcherConfig()
        batcher = BatcherConfig(
            max_batch_size=_get(env, "BATCH_MAX_SIZE", _positive_int, defaults.max_batch_size),
            max_wait_seconds=_get(
                env, "BATCH_MAX_WAIT_SECONDS", _positive_float, defaults.max_wait_seconds
            ),
            mode=_get(env, "BATCH_MODE", _choice("fixed", "adaptive"), defaults.mode),
            min_interval_seconds=_get(
                env, "BATCH_MIN_INTERVAL_SECONDS", _positive_float, defaults.min_interval_seconds
            ),
            max_interval_seconds=_get(
                env, "BATCH_MAX_INTERVAL_SECONDS", _positive_float, defaults.max_interval_seconds
            ),
            full_load_rate=_get(
                env, "BATCH_FULL_LOAD_RATE", _positive_float, defaults.full_load_rate
            ),
            max_pending=_get(env, "BATCHER_MAX_PENDING", _positive_int, defaults.max_pending),
            max_signals_per_run=_get(
                env, "BATCHER_MAX_SIGNALS_PER_RUN", _positive_int, defaults.max_signals_per_run
            ),
            max_inflight_flushes=_get(
                env, "BATCHER_MAX_INFLIGHT_FLUSHES", _positive_int, defaults.max_inflight_flushes
            ),
            ack_transport=_get(
                env, "ACK_TRANSPORT", _choice("activity", "workflow"), defaults.ack_transport
            ),
            dedup_window=_get(env, "BATCHER_DEDUP_WINDOW", _positive_int, defaults.dedup_window),
        )
        if batcher.max_interval_seconds < batcher.min_interval_seconds:
            raise SettingsError(
                "BATCH_MAX_INTERVAL_SECONDS must be at least BATCH_MIN_INTERVAL_SECONDS"
            )
        if batcher.max_signals_per_run > 9_000:
            raise SettingsError(
                "BATCHER_MAX_SIGNALS_PER_RUN must stay below Temporal's 10,000 signals per run"
            )
        return cls(
            common=CommonSettings.from_env(
                env, default_metrics_port=9102, default_service_name="batcher-service"
            ),
            database_url=database_url,
            database_pool_size=_get(env, "DATABASE_POOL_SIZE", _positive_int, 10),
            batcher=batcher,
            max_concurrent_activities=_get(
                env, "WORKER_MAX_CONCURRENT_ACTIVITIES", _positive_int, 50
            ),
        )
