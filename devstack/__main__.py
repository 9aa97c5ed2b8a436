"""``python -m devstack demo`` runs the embedded default end to end."""

from __future__ import annotations

import sys

from devstack.demo import run_demo
from write_batcher_kit.lifecycle import exit_process


def main() -> int:
    argv = sys.argv[1:]
    if not argv or argv[0] != "demo":
        usage = "usage: python -m devstack demo [--workflows N] [--concurrency C] [--ui]"
        print(usage, file=sys.stderr)
        return 2
    return run_demo(argv[1:])


if __name__ == "__main__":
    exit_process(main())
