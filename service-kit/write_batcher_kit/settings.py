"""Settings both services read from the environment once, in ``main()`` (pydantic-settings).

Each service declares its own variables on ``Env`` models and loads them with ``load_env``;
``WorkerTuning`` is the workers' poller and slot sizing, the same variables in both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
from temporalio.worker import PollerBehaviorAutoscaling, ResourceBasedTunerConfig, WorkerTuner

from write_batcher import TableSpec, TableSpecError, load_table_specs

# Values never repeated in an error message (they may hold a password).
SECRET_VARIABLES = frozenset({"DATABASE_URL"})

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
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


# The SDK's own defaults for autoscaled pollers (minimum 1, maximum 100, initial 5).
_POLLERS = PollerBehaviorAutoscaling()
# The Python SDK's resource-based tuner has no default targets: the Go SDK's (memory 0.8,
# CPU 0.9), which leave headroom, since what a task will use is not known before it runs.
_TARGET_MEMORY = 0.8
_TARGET_CPU = 0.9


class WorkerTuningEnv(Env):
    """Poller autoscaling and the resource-based slot tuner: the same variables in both services."""

    # Unset: the service's own default (``WorkerTuning.from_env``'s ``autoscale_pollers``).
    poller_autoscaling: bool | None = var("WORKER_POLLER_AUTOSCALING", None)
    poller_minimum: PositiveInt = var("WORKER_POLLER_MIN", _POLLERS.minimum)
    poller_maximum: PositiveInt = var("WORKER_POLLER_MAX", _POLLERS.maximum)
    poller_initial: PositiveInt = var("WORKER_POLLER_INITIAL", _POLLERS.initial)
    tuner: Literal["fixed", "resource-based"] = var("WORKER_TUNER", "fixed")
    target_memory: Fraction = var("WORKER_TUNER_TARGET_MEMORY", _TARGET_MEMORY)
    target_cpu: Fraction = var("WORKER_TUNER_TARGET_CPU", _TARGET_CPU)


_POLLER_VARIABLES = ("WORKER_POLLER_MIN", "WORKER_POLLER_MAX", "WORKER_POLLER_INITIAL")
_TARGET_VARIABLES = ("WORKER_TUNER_TARGET_MEMORY", "WORKER_TUNER_TARGET_CPU")


def _given(env: Mapping[str, str], names: Iterable[str]) -> list[str]:
    # Blank is unset, as in _MappingSource: compose renders an unset value as "".
    return [name for name in names if env.get(name, "").strip()]


def slot_variables(model: type[Env]) -> tuple[str, ...]:
    """The variables of a model's fixed worker slots (its ``max_concurrent_*`` fields)."""
    return tuple(
        str(info.validation_alias)
        for name, info in model.model_fields.items()
        if name.startswith("max_concurrent_")
    )


@dataclass(frozen=True)
class WorkerTuning:
    """How a worker sizes its pollers and its task slots. Empty: the SDK's fixed pollers (5
    each) and the service's fixed slots (WORKER_MAX_CONCURRENT_*)."""

    pollers: PollerBehaviorAutoscaling | None = None
    resources: ResourceBasedTunerConfig | None = None

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], fixed_slots: Iterable[str], *, autoscale_pollers: bool
    ) -> WorkerTuning:
        """``fixed_slots``: the service's slot variables, which the resource-based tuner
        replaces (the SDK refuses both); ``autoscale_pollers``: the service's default for
        WORKER_POLLER_AUTOSCALING."""
        parsed = load_env(WorkerTuningEnv, env)
        pollers = None
        autoscaling = parsed.poller_autoscaling
        if autoscaling is None:
            autoscaling = autoscale_pollers
        if autoscaling:
            low, start, high = parsed.poller_minimum, parsed.poller_initial, parsed.poller_maximum
            if not low <= start <= high:
                raise SettingsError(
                    f"WORKER_POLLER_MIN={low}, WORKER_POLLER_INITIAL={start}, "
                    f"WORKER_POLLER_MAX={high}: the initial pollers must lie between the others"
                )
            pollers = PollerBehaviorAutoscaling(minimum=low, maximum=high, initial=start)
        elif stray := _given(env, _POLLER_VARIABLES):
            raise SettingsError(
                f"{', '.join(stray)}: read only with WORKER_POLLER_AUTOSCALING=true"
            )
        resources = None
        if parsed.tuner == "resource-based":
            if fixed := _given(env, fixed_slots):
                raise SettingsError(
                    f"WORKER_TUNER=resource-based sizes the slots itself: unset {', '.join(fixed)}"
                    " or set WORKER_TUNER=fixed"
                )
            resources = ResourceBasedTunerConfig(parsed.target_memory, parsed.target_cpu)
        elif stray := _given(env, _TARGET_VARIABLES):
            raise SettingsError(f"{', '.join(stray)}: read only with WORKER_TUNER=resource-based")
        return cls(pollers, resources)

    def worker_options(self, **fixed_slots: int) -> dict[str, Any]:
        """``Worker`` keyword arguments: the resource-based tuner or else ``fixed_slots`` (the
        ``max_concurrent_*`` arguments), and the workflow and activity pollers' behaviour."""
        options: dict[str, Any] = {}
        if self.resources is None:
            options.update(fixed_slots)
        else:
            options["tuner"] = WorkerTuner.create_resource_based(
                target_memory_usage=self.resources.target_memory_usage,
                target_cpu_usage=self.resources.target_cpu_usage,
            )
        if self.pollers is not None:
            options["workflow_task_poller_behavior"] = self.pollers
            options["activity_task_poller_behavior"] = self.pollers
        return options


def variable_names(*models: type[Env]) -> frozenset[str]:
    """Every variable these models read (TEMPORAL_* aside: the SDK's envconfig reads those)."""
    every: tuple[type[Env], ...] = (_CommonEnv, *models)
    return frozenset(
        str(info.validation_alias) for model in every for info in model.model_fields.values()
    )
