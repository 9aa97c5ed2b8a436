"""Temporal client construction shared by workers and commands."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from temporalio.client import Client, Plugin
from temporalio.runtime import Runtime

log = logging.getLogger(__name__)

# The bound on reaching the frontend at start: 5 attempts, 0.5 s after the first failure,
# doubling (7.5 s of waits), each attempt cut at 10 s. A frontend still down after that
# ends the process (exit 2): an orchestrator restarts it with its own backoff.
CONNECT_ATTEMPTS = 5
CONNECT_FIRST_DELAY_SECONDS = 0.5
CONNECT_ATTEMPT_TIMEOUT_SECONDS = 10.0


class TemporalUnreachableError(RuntimeError):
    """The Temporal frontend did not answer within the connect bound; names TEMPORAL_ADDRESS."""

    def __init__(self, target: str, attempts: int, reason: str) -> None:
        self.target = target
        self.attempts = attempts
        self.reason = reason
        super().__init__(
            f"cannot reach the Temporal frontend at TEMPORAL_ADDRESS={target} "
            f"after {attempts} attempts: {reason}"
        )


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 240 else text[:237] + "..."


async def connect(
    connect_config: dict[str, Any],
    *,
    runtime: Runtime | None = None,
    plugins: Sequence[Plugin] = (),
    attempts: int = CONNECT_ATTEMPTS,
    first_delay_seconds: float = CONNECT_FIRST_DELAY_SECONDS,
) -> Client:
    """Connect with settings from CommonSettings.temporal (the SDK's env config).

    Retries a bounded number of times, then raises TemporalUnreachableError.
    """
    kwargs = dict(connect_config)
    if runtime is not None:
        kwargs["runtime"] = runtime
    if plugins:
        kwargs["plugins"] = list(plugins)
    target = str(kwargs.get("target_host", "localhost:7233"))
    delay = first_delay_seconds
    reason = ""
    for attempt in range(1, attempts + 1):
        try:
            return await asyncio.wait_for(
                Client.connect(**kwargs), timeout=CONNECT_ATTEMPT_TIMEOUT_SECONDS
            )
        except TimeoutError:
            reason = f"no answer within {CONNECT_ATTEMPT_TIMEOUT_SECONDS:g} s"
        except RuntimeError as err:
            # The SDK reports every connect failure (refused, DNS, TLS) as a RuntimeError.
            reason = _one_line(err)
        if attempt < attempts:
            log.debug("Temporal at %s not reachable (attempt %d): %s", target, attempt, reason)
            await asyncio.sleep(delay)
            delay *= 2
    raise TemporalUnreachableError(target, attempts, reason)
