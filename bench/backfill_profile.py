"""Where a backfill's time goes: the copier alone (no Temporal) against raw COPY, with the wall
time and the CPU seconds of each process: source backend, target backend, this Python."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import asyncpg

from batcher_service.backfill import copier
from batcher_service.backfill.payloads import (
    BackfillProgress,
    CopyPartitionInput,
    KeyRange,
    SourceSpec,
)
from bench.backfill_bench import DDL, _make_source, stream_copy

_TICK = os.sysconf("SC_CLK_TCK")
_SPEC = SourceSpec(
    '"items"', ["id", "account", "amount", "memo", "created"], '"pg_catalog"."int8"', True
)


def _cpu(pid: int | None = None) -> float:
    """CPU seconds of a backend by its pid (same machine), or of this process."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _timed(name: str, fn: Any, into: dict[str, float]) -> Callable[..., Awaitable[Any]]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.monotonic()
        try:
            return await fn(*args, **kwargs)
        finally:
            into[name] = into.get(name, 0.0) + time.monotonic() - began

    return wrapper


async def _raw(source_url: str, target_url: str, fmt: Literal["text", "binary"]) -> dict[str, Any]:
    src, dst = await asyncpg.connect(source_url), await asyncpg.connect(target_url)
    await dst.execute(DDL.format(name="profile_raw"))
    pids = (src.get_server_pid(), dst.get_server_pid())
    before = [_cpu(pids[0]), _cpu(pids[1]), _cpu()]
    began = time.monotonic()
    await stream_copy(src, dst, "profile_raw", fmt)
    wall = time.monotonic() - began
    after = [_cpu(pids[0]), _cpu(pids[1]), _cpu()]
    await dst.execute("DROP TABLE profile_raw")
    await dst.execute("CHECKPOINT")
    await src.close()
    await dst.close()
    return _row(f"raw COPY {fmt}", wall, before, after, {})


def _row(
    name: str, wall: float, before: list[float], after: list[float], phases: dict[str, float]
) -> dict[str, Any]:
    cpu = [round(a - b, 2) for a, b in zip(after, before, strict=True)]
    return {
        "path": name,
        "wall_s": round(wall, 2),
        "cpu_source_s": cpu[0],
        "cpu_target_s": cpu[1],
        "cpu_python_s": cpu[2],
        **{k: round(v, 2) for k, v in phases.items()},
    }


async def _copier(
    source_url: str, target_url: str, args: argparse.Namespace, *, binary: bool, merge: bool
) -> dict[str, Any]:
    pool = await asyncpg.create_pool(target_url, min_size=1, max_size=1)
    assert pool is not None
    await pool.execute(DDL.format(name="profile_copy"))
    if merge:
        # One row at the end of every page's range: each page finds a clash and is merged.
        await pool.execute(
            "INSERT INTO profile_copy SELECT g, '', 0, NULL, now() "
            "FROM generate_series($1::int8, $2::int8, $1::int8) g",
            args.batch_size,
            args.rows,
        )
    source = await asyncpg.connect(source_url)
    pids = (source.get_server_pid(), int(await pool.fetchval("SELECT pg_backend_pid()")))
    phases: dict[str, float] = {}
    cls = copier.PartitionCopier
    patched = {"_read": "read: page query + COPY out", "_clashes": "probe", "_write": "write"}
    originals = {name: getattr(cls, name) for name in patched}
    for name, label in patched.items():
        setattr(cls, name, _timed(label, originals[name], phases))
    try:
        spec = SourceSpec(**{**_SPEC.__dict__, "binary": binary})
        job = CopyPartitionInput(
            "profile",
            spec,
            "profile_copy",
            args.batch_size,
            None,
            KeyRange(0, None, None, args.rows),
        )
        run = cls(source, pool, job, BackfillProgress(0, None), lambda _: None)
        before = [_cpu(pids[0]), _cpu(pids[1]), _cpu()]
        began = time.monotonic()
        await run.run()
        wall = time.monotonic() - began
        after = [_cpu(pids[0]), _cpu(pids[1]), _cpu()]
    finally:
        for name, fn in originals.items():
            setattr(cls, name, fn)
    await pool.execute("DROP TABLE profile_copy")
    await pool.execute("CHECKPOINT")
    await pool.close()
    await source.close()
    name = f"copier {'binary' if binary else 'text'} {'staged + merged' if merge else 'direct'}"
    return _row(name, wall, before, after, phases)


async def _profile(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Raw COPY text and binary, then the copier: text and binary, direct and merged."""
    source_url = await _make_source(args.server, args.rows)
    target_url = args.server
    rows = []
    try:
        for _ in range(args.rounds):
            for fmt in ("text", "binary"):
                rows.append(await _raw(source_url, target_url, fmt))
                print(json.dumps(rows[-1]), flush=True)
            for binary in (False, True):
                for merge in (False, True):
                    row = await _copier(source_url, target_url, args, binary=binary, merge=merge)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    finally:
        admin = await asyncpg.connect(args.server)
        await admin.execute(f'DROP DATABASE "{source_url.rsplit("/", 1)[1]}" WITH (FORCE)')
        await admin.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--server",
        default=os.environ.get("TEST_DATABASE_URL"),
        help="postgresql:// URL on this machine (backend CPU is read from /proc)",
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    if not args.server:
        parser.error("--server or TEST_DATABASE_URL: a local PostgreSQL")
    asyncio.run(_profile(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
