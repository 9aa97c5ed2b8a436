"""Starter: ``python -m main_service.starter`` starts N payment workflows concurrently and waits."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field

from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from main_service.names import MAIN_TASK_QUEUE, PAYMENT_WORKFLOW
from main_service.payments import PaymentRequest
from write_batcher_kit.client import connect
from write_batcher_kit.lifecycle import exit_process
from write_batcher_kit.settings import CommonSettings, SettingsError


@dataclass
class StarterReport:
    """What a starter run saw from the callers' side."""

    run_id: str
    workflows: int
    completed: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    # Submit to ack inside each payment (what batching adds), where the workflow reports it.
    write_latencies_ms: list[float] = field(default_factory=list)
    # Server close times (epoch seconds): the steady-state rate is read from these.
    close_times: list[float] = field(default_factory=list)
    workflow_ids: list[str] = field(default_factory=list)
    completed_ids: list[str] = field(default_factory=list)

    def record(self, timing: Timing) -> None:
        self.latencies_ms.append(timing.latency_ms)
        self.close_times.append(timing.closed_at)
        if timing.write_latency_ms is not None:
            self.write_latencies_ms.append(timing.write_latency_ms)

    def summary(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("latencies_ms")
        data.pop("write_latencies_ms")
        data.pop("close_times")
        data.pop("workflow_ids")
        data.pop("completed_ids")
        data.update(latency_summary(self.latencies_ms))
        if self.write_latencies_ms:
            data.update(latency_summary(self.write_latencies_ms, prefix="write_"))
        data["writes_per_s"] = (
            round(self.completed / self.wall_seconds, 2) if self.wall_seconds else 0.0
        )
        data["steady_writes_per_s"] = steady_rate(self.close_times)
        return data


def steady_rate(close_times: list[float], trim: float = 0.1) -> float:
    """Completions per second between the first and last ``trim`` of them.

    A run with a fixed number in flight fills up and drains at its ends, and the fill lasts one
    latency: the whole-run rate charges that to every design with a longer latency. The middle
    80 % is the rate the system sustains.
    """
    if len(close_times) < 10:
        return 0.0
    ordered = sorted(close_times)
    first, last = round(trim * len(ordered)), round((1 - trim) * len(ordered)) - 1
    span = ordered[last] - ordered[first]
    return round((last - first) / span, 2) if span > 0 else 0.0


def percentile(values: list[float], pct: float) -> float:
    """The ``pct``-th percentile (1 to 99) by ``statistics.quantiles``; 0 for an empty list."""
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[round(pct) - 1]


def latency_summary(latencies_ms: list[float], prefix: str = "") -> dict[str, float]:
    return {f"{prefix}p{p}_ms": round(percentile(latencies_ms, p), 1) for p in (50, 95, 99)} | {
        f"{prefix}max_ms": round(max(latencies_ms, default=0.0), 1)
    }


@dataclass(frozen=True)
class Timing:
    """One workflow's latency, start to close on the server, and its write's submit to ack."""

    latency_ms: float
    write_latency_ms: float | None
    closed_at: float


def payment_for(run_id: str, index: int, accounts: int) -> tuple[str, PaymentRequest]:
    """The workflow id and input of payment ``index`` in a run; the account is the partition."""
    payment_id = f"pay-{run_id}-{index}"
    return payment_id, PaymentRequest(
        payment_id=payment_id,
        account_id=f"acct-{index % accounts}",
        amount_cents=100 + index,
        currency="EUR",
        memo=f"starter run {run_id}",
    )


def failure_type(err: BaseException) -> str:
    """The ApplicationError type at the root of a workflow failure, for branching and reports."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.type:
            return cause.type
        cause = cause.__cause__
    return type(err).__name__


# Each result wait is a long poll; the dev server refuses more than ~1,000 per namespace.
RESULT_POLLERS = 256


async def run_one(
    client: Client,
    workflow_id: str,
    payment: PaymentRequest,
    task_queue: str,
    pollers: asyncio.Semaphore,
    *,
    workflow: str = PAYMENT_WORKFLOW,
) -> Timing:
    """Start one payment, wait for it; returns its latencies."""
    handle = await client.start_workflow(
        workflow,
        payment,
        id=workflow_id,
        task_queue=task_queue,
    )
    async with pollers:
        result = await handle.result()
        # Server timestamps: the latency does not depend on when our poll got its turn.
        info = await handle.describe()
    assert info.close_time is not None
    write_ms = result.get("write_latency_ms") if isinstance(result, dict) else None
    return Timing(
        (info.close_time - info.start_time).total_seconds() * 1000,
        float(write_ms) if write_ms is not None else None,
        info.close_time.timestamp(),
    )


async def run_payments(
    client: Client,
    workflows: int,
    *,
    concurrency: int | None = None,
    accounts: int = 50,
    run_id: str | None = None,
    task_queue: str = MAIN_TASK_QUEUE,
) -> StarterReport:
    """Start ``workflows`` payments, at most ``concurrency`` in flight, and wait for all."""
    report = StarterReport(run_id=run_id or uuid.uuid4().hex[:8], workflows=workflows)
    slots = asyncio.Semaphore(concurrency or workflows)
    pollers = asyncio.Semaphore(RESULT_POLLERS)
    failures: Counter[str] = Counter()

    async def one(index: int) -> None:
        workflow_id, payment = payment_for(report.run_id, index, accounts)
        report.workflow_ids.append(workflow_id)
        async with slots:
            try:
                timing = await run_one(client, workflow_id, payment, task_queue, pollers)
            except WorkflowFailureError as err:
                failures[failure_type(err.cause)] += 1
                return
            report.record(timing)
            report.completed_ids.append(workflow_id)

    began = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(workflows)))
    report.wall_seconds = round(time.monotonic() - began, 3)
    report.completed = len(report.latencies_ms)
    report.failed = sum(failures.values())
    report.failures = dict(failures)
    return report


async def _main(args: argparse.Namespace, common: CommonSettings) -> StarterReport:
    client = await connect(common.temporal)
    return await run_payments(
        client, args.workflows, concurrency=args.concurrency, accounts=args.accounts
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workflows", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=None, help="in flight (default: all)")
    parser.add_argument("--accounts", type=int, default=50, help="distinct partition keys")
    args = parser.parse_args()
    try:
        common = CommonSettings.from_env(os.environ, default_metrics_port=0)
    except SettingsError as err:
        print(f"starter: {err}", file=sys.stderr)
        return 2
    report = asyncio.run(_main(args, common))
    print(json.dumps(report.summary()))
    return 0 if report.failed == 0 else 1


if __name__ == "__main__":
    exit_process(main())
