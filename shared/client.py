"""Temporal client construction shared by workers and commands."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio.client import Client, Interceptor
from temporalio.runtime import Runtime


async def connect(
    connect_config: dict[str, Any],
    *,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    """Connect with settings from CommonSettings.temporal (the SDK's env config)."""
    kwargs = dict(connect_config)
    if runtime is not None:
        kwargs["runtime"] = runtime
    if interceptors:
        kwargs["interceptors"] = list(interceptors)
    return await Client.connect(**kwargs)
