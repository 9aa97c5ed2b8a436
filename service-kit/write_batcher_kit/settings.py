"""Settings both services read from the environment once, in ``main()`` (pydantic-settings).

Each service declares its own variables on ``Env`` models and loads them with ``load_env``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from temporalio.envconfig import ClientConfig

from write_batcher import TableSpec, TableSpecError, load_table_specs

# Values never repeated in an error message (they may hold a password).
SECRET_VARIABLES = frozenset({"DATABASE_URL"})

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
    BeforeValidator(lambda raw: raw.upper() if isinstance(raw, str) else raw),
]


def var(name: str, default: Any = ..., **constraints: Any) -> Any:
    """A field read from the variable ``name``."""
    return Field(default, validation_alias=name, **constraints)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


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


class Env(BaseSettings):
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


E = TypeVar("E", bound=Env)


def load_env(model: type[E], env: Mapping[str, str]) -> E:
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
    if name in SECRET_VARIABLES:
        return f"{name} is malformed: {message}"
    return f"{name}={env.get(name, '').strip()!r} is malformed: {message}"


class _CommonEnv(Env):
    log_level: LogLevel = var("LOG_LEVEL", "INFO")
    metrics_port: int | None = var("METRICS_PORT", None, ge=0, le=65535)
    otlp_endpoint: str | None = var("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    service_name: str | None = var("OTEL_SERVICE_NAME", None)


class TablesEnv(Env):
    tables_file: Annotated[Path, AfterValidator(_existing_file)] = var("WRITE_TABLES_FILE")


def temporal_connect(env: Mapping[str, str]) -> dict[str, Any]:
    """Temporal connection from the SDK's own env config (TEMPORAL_ADDRESS, TLS, API key...)."""
    try:
        config = ClientConfig.load_client_connect_config(override_env_vars=dict(env))
    except Exception as err:
        raise SettingsError(f"TEMPORAL_* settings are invalid: {err}") from None
    connect = dict(config)
    connect.setdefault("target_host", "localhost:7233")
    connect.setdefault("namespace", "default")
    return connect


def tables_from_file(path: Path) -> dict[str, TableSpec]:
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
        parsed = load_env(_CommonEnv, env)
        return cls(
            temporal=temporal_connect(env),
            log_level=parsed.log_level,
            metrics_port=(
                default_metrics_port if parsed.metrics_port is None else parsed.metrics_port
            ),
            otlp_endpoint=parsed.otlp_endpoint,
            service_name=parsed.service_name or default_service_name,
        )


def variable_names(*models: type[Env]) -> frozenset[str]:
    """Every variable these models read (TEMPORAL_* aside: the SDK's envconfig reads those)."""
    every: tuple[type[Env], ...] = (_CommonEnv, *models)
    return frozenset(
        str(info.validation_alias) for model in every for info in model.model_fields.values()
    )
