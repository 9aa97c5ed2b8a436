"""Billable actions, as the Temporal server itself counts them: its ``action`` counter.

``temporal server start-dev --metrics-port P`` exposes ``action{namespace, operation,
action_type}`` on ``http://127.0.0.1:P/metrics``; Temporal Cloud bills the same actions.
Scrape it before and after a run: the difference, per operation, is what the run cost.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import urllib.request
from collections import Counter
from collections.abc import Mapping

ACTION_METRIC = "action"
_SAMPLE = re.compile(r"^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<v>\S+)")
_LABEL = re.compile(r'(?P<k>[A-Za-z_][A-Za-z0-9_]*)="(?P<v>(?:[^"\\]|\\.)*)"')


def parse_actions(text: str, namespace: str = "default") -> Counter[str]:
    """Actions so far in ``namespace`` by operation (other labels summed), from /metrics text.

    ``operation`` is the RPC (StartWorkflowExecution, RespondWorkflowTaskCompleted, ...); for
    workflow-task completions the server names what was billed in ``action_type``
    (``command_ScheduleActivityTask``...), kept as ``operation/action_type`` when it differs
    from the RPC's own ``grpc_<operation>``.
    """
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        if not line.startswith(ACTION_METRIC):
            continue
        match = _SAMPLE.match(line)
        if match is None or match["name"] != ACTION_METRIC:
            continue
        labels = {m["k"]: m["v"] for m in _LABEL.finditer(match["labels"] or "")}
        if labels.get("namespace", namespace) != namespace:
            continue
        operation = labels.get("operation", "unknown")
        kind = labels.get("action_type", "")
        key = operation if kind in ("", f"grpc_{operation}") else f"{operation}/{kind}"
        counts[key] += int(float(match["v"]))
    return counts


def scrape_actions_sync(metrics_url: str, namespace: str = "default") -> Counter[str]:
    with urllib.request.urlopen(metrics_url, timeout=10) as reply:
        return parse_actions(reply.read().decode(), namespace)


async def scrape_actions(metrics_url: str, namespace: str = "default") -> Counter[str]:
    """The server's action counters now (``metrics_url``: its /metrics address)."""
    return await asyncio.to_thread(scrape_actions_sync, metrics_url, namespace)


def action_delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """What a run cost, by operation (zeros dropped), sorted by operation."""
    keys = sorted(set(before) | set(after))
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in keys}
    return {k: v for k, v in delta.items() if v}


def per_write(counts: Mapping[str, int], writes: int) -> dict[str, float]:
    """Each operation and ``total`` divided by the writes (3 decimals)."""
    if writes <= 0:
        return {}
    out = {k: round(v / writes, 3) for k, v in counts.items()}
    out["total"] = round(sum(counts.values()) / writes, 3)
    return out


def dev_server_metrics_url(argv: list[str]) -> str | None:
    """The /metrics address of a dev server from its command line (``--metrics-port P``)."""
    for flag, value in itertools.pairwise(argv):
        if flag == "--metrics-port":
            return f"http://127.0.0.1:{value}/metrics"
    return None
