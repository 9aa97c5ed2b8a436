"""main-service settings: its worker's slots and the write library's knobs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from pydantic import create_model

from write_batcher import WriteSettings
from write_batcher_kit.settings import (
    CommonSettings,
    Env,
    PositiveInt,
    SettingsError,
    WorkerTuning,
    WorkerTuningEnv,
    load_env,
    slot_variables,
    var,
    variable_names,
)
from write_batcher_kit.versioning import WorkerVersioning, WorkerVersioningEnv

_DEFAULTS = WriteSettings()
# The plugin's numeric knobs, each from the variable of its name in upper case; its ranges
# are the plugin's own (WriteSettings), checked once the values are read.
_KNOBS = [
    f.name for f in fields(WriteSettings) if isinstance(getattr(_DEFAULTS, f.name), int | float)
]
_WriteEnv: type[Env] = create_model(  # type: ignore[call-overload]
    "_WriteEnv",
    __base__=Env,
    **{
        name: (type(getattr(_DEFAULTS, name)), var(name.upper(), getattr(_DEFAULTS, name)))
        for name in _KNOBS
    },
)


class _MainEnv(Env):
    # Fixed slots: WORKER_TUNER=resource-based replaces them.
    max_concurrent_activities: PositiveInt = var("WORKER_MAX_CONCURRENT_ACTIVITIES", 200)
    max_concurrent_workflow_tasks: PositiveInt = var("WORKER_MAX_CONCURRENT_WORKFLOW_TASKS", 200)


def _as_variable(word: re.Match[str]) -> str:
    return word[0].upper() if word[0] in _KNOBS else word[0]


def _write_settings(env: Mapping[str, str]) -> WriteSettings:
    values: dict[str, Any] = load_env(_WriteEnv, env).model_dump()
    try:
        return WriteSettings(**values)
    except ValueError as err:
        # The plugin names its arguments; a service's operator sets variables.
        message = re.sub(
            r"\b[a-z_]+\b", lambda m: m[0].upper() if m[0] in _KNOBS else m[0], str(err)
        )
        raise SettingsError(message) from None


@dataclass(frozen=True)
class MainSettings:
    """main-service: the plugin's knobs, the worker's slots."""

    common: CommonSettings
    write: WriteSettings
    max_concurrent_activities: int
    max_concurrent_workflow_tasks: int
    tuning: WorkerTuning = field(default_factory=WorkerTuning)
    # TEMPORAL_DEPLOYMENT_NAME / TEMPORAL_WORKER_BUILD_ID: unset, an unversioned worker.
    versioning: WorkerVersioning = field(default_factory=WorkerVersioning)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MainSettings:
        parsed = load_env(_MainEnv, env)
        return cls(
            common=CommonSettings.from_env(
                env, default_metrics_port=9101, default_service_name="main-service"
            ),
            write=_write_settings(env),
            tuning=WorkerTuning.from_env(env, slot_variables(_MainEnv), autoscale_pollers=False),
            versioning=WorkerVersioning.from_env(env, default_deployment_name="main-service"),
            **parsed.model_dump(),
        )


def main_variable_names() -> frozenset[str]:
    """Every variable main-service reads."""
    return variable_names(_MainEnv, _WriteEnv, WorkerTuningEnv, WorkerVersioningEnv)
