"""Settings read from the environment once, in each entry point's ``main()`` (pydantic-settings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qs, urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from temporalio.envconfig import ClientConfig

from shared.payloads import BatcherConfig
from shared.table_files import load_table_specs
from shared.tables import TableSpec, TableSpecError

# Values never repeated in an error message (they may hold a password).
_SECRET = frozenset({"DATABASE_URL"})

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
    BeforeValidator(lambda raw: raw.upper() if isinstance(raw, str) else raw),
]


def _var(name: str, default: Any = ..., **constraints: Any) -> Any:
    """A field read from the variable ``name``."""
    return Field(default, validation_alias=name, **constraints)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


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


def _existing_file(path: Path) -> Path:
    if not path.is_file():
        raise ValueError("names no readable file")
    return path


class _MappingSource(EnvSettingsSource):
    """pydantic-settings' env source over a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._mapping = env
        super().__init__(settings_cls, case_sensitive=True, env_ignore_empty=True)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # A blank variable is an unset one (compose and Helm render optional values as "").
        return {name: value.strip() for name, value in self._mapping.items() if value.strip()}


class _Env(BaseSettings):
    """Base of the per-service env models: only init values, which come from _MappingSource."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


E = TypeVar("E", bound=_Env)


def _load(model: type[E], env: Mapping[str, str]) -> E:
    values = _MappingSource(model, env)()
    try:
        return model(**values)
    except ValidationError as err:
        raise SettingsError("; ".join(_describe(e, env) for e in err.errors())) from None


def _describe(error: Any, env: Mapping[str, str]) -> str:
    name = str(error["loc"][0]) if error["loc"] else "settings"
    if error["type"] == "missing":
        return f"{name} is required"
    message = str(error["msg"]).removeprefix("Value error, ")
    if name in _SECRET:
        return f"{name} is malformed: {message}"
    return f"{name}={env.get(name, '').strip()!r} is malformed: {message}"


class _CommonEnv(_Env):
    log_level: LogLevel = _var("LOG_LEVEL", "INFO")
    metrics_port: int | None = _var("METRICS_PORT", None, ge=0, le=65535)
    otlp_endpoint: str | None = _var("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    service_name: str | None = _var("OTEL_SERVICE_NAME", None)


class _TablesEnv(_Env):
    tables_file: Annotated[Path, AfterValidator(_existing_file)] = _var("WRITE_TABLES_FILE")


class _MainEnv(_TablesEnv):
    ack_timeout_seconds: PositiveFloat = _var("ACK_TIMEOUT_SECONDS", 120.0)
    max_row_bytes: PositiveInt = _var("MAX_ROW_BYTES", 16 * 1024)
    batcher_shards: PositiveInt = _var("BATCHER_SHARDS", 1)
    submit_linger_seconds: NonNegativeFloat = _var("SUBMIT_LINGER_SECONDS", 0.2)
    ack_poll_seconds: Annotated[float, Field(ge=0.01, le=10)] = _var("ACK_POLL_SECONDS", 0.2)
    max_concurrent_activities: PositiveInt = _var("WORKER_MAX_CONCURRENT_ACTIVITIES", 200)
    max_concurrent_workflow_tasks: PositiveInt = _var("WORKER_MAX_CONCURRENT_WORKFLOW_TASKS", 200)


_B = BatcherConfig()


class _BatcherEnv(_TablesEnv):
    database_url: Annotated[str, AfterValidator(_database_url)] = _var("DATABASE_URL")
    database_pool_size: PositiveInt = _var("DATABASE_POOL_SIZE", 10)
    max_concurrent_activities: PositiveInt = _var("WORKER_MAX_CONCURRENT_ACTIVITIES", 50)
    request_retention_hours: PositiveFloat = _var("REQUEST_RETENTION_HOURS", 168.0)


class _PolicyEnv(_Env):
    """The fields of BatcherConfig, each from its variable; defaults are BatcherConfig's."""

    max_batch_size: PositiveInt = _var("BATCH_MAX_SIZE", _B.max_batch_size)
    max_wait_seconds: PositiveFloat = _var("BATCH_MAX_WAIT_SECONDS", _B.max_wait_seconds)
    mode: Literal["fixed", "adaptive"] = _var("BATCH_MODE", _B.mode)
    min_interval_seconds: PositiveFloat = _var(
        "BATCH_MIN_INTERVAL_SECONDS", _B.min_interval_seconds
    )
    max_interval_seconds: PositiveFloat = _var(
        "BATCH_MAX_INTERVAL_SECONDS", _B.max_interval_seconds
    )
    full_load_rate: PositiveFloat = _var("BATCH_FULL_LOAD_RATE", _B.full_load_rate)
    max_pending: PositiveInt = _var("BATCHER_MAX_PENDING", _B.max_pending)
    # Temporal refuses signals past 10,000 per run: keep room for the run's own events.
    max_signals_per_run: Annotated[int, Field(gt=0, le=9_000)] = _var(
        "BATCHER_MAX_SIGNALS_PER_RUN", _B.max_signals_per_run
    )
    max_inflight_flushes: PositiveInt = _var(
        "BATCHER_MAX_INFLIGHT_FLUSHES", _B.max_inflight_flushes
    )
    dedup_window: PositiveInt = _var("BATCHER_DEDUP_WINDOW", _B.dedup_window)
    flush_timeout_seconds: PositiveFloat = _var(
        "BATCH_FLUSH_TIMEOUT_SECONDS", _B.flush_timeout_seconds
    )


def variable_names() -> frozenset[str]:
    """Every variable these settings read (TEMPORAL_* aside: the SDK's envconfig reads those)."""
    models = (_CommonEnv, _MainEnv, _BatcherEnv, _PolicyEnv)
    return frozenset(
        str(info.validation_alias) for model in models for info in model.model_fields.values()
    )


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


def _tables(path: Path) -> dict[str, TableSpec]:
    try:
        return load_table_specs(path)
    except TableSpecError as err:
        raise SettingsError(
            f"WRITE_TABLES_FILE={str(path)!r}: {' '.join(str(err).split())}"
        ) from None


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
        parsed = _load(_CommonEnv, env)
        return cls(
            temporal=_temporal_connect(env),
            log_level=parsed.log_level,
            metrics_port=(
                default_metrics_port if parsed.metrics_port is None else parsed.metrics_port
            ),
            otlp_endpoint=parsed.otlp_endpoint,
            service_name=parsed.service_name or default_service_name,
        )


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
        parsed = _load(_MainEnv, env)
        return cls(
            common=CommonSettings.from_env(
                env, default_metrics_port=9101, default_service_name="main-service"
            ),
            tables=_tables(parsed.tables_file),
            **parsed.model_dump(),
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

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BatcherSettings:
        parsed = _load(_BatcherEnv, env)
        batcher = BatcherConfig(**_load(_PolicyEnv, env).model_dump())
        if batcher.max_interval_seconds < batcher.min_interval_seconds:
            raise SettingsError(
                "BATCH_MAX_INTERVAL_SECONDS must be at least BATCH_MIN_INTERVAL_SECONDS"
            )
        return cls(
            common=CommonSettings.from_env(
                env, default_metrics_port=9102, default_service_name="batcher-service"
            ),
            tables=_tables(parsed.tables_file),
            batcher=batcher,
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
