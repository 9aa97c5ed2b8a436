"""The batcher's one command line: the worker, migrations, dead letters, look-ups, backfills."""

from __future__ import annotations

import importlib
import sys

from write_batcher_kit.lifecycle import exit_process

# name -> (module with ``main(argv) -> int``, one line of help)
COMMANDS: dict[str, tuple[str, str]] = {
    "worker": (
        "batcher_service.cli.worker",
        "run the batcher worker until SIGINT/SIGTERM (default)",
    ),
    "migrate": ("batcher_service.cli.migrate", "create or update the batcher's own tables"),
    "dead-letters": ("batcher_service.cli.dead_letters", "list or resubmit rejected rows"),
    "requests": ("batcher_service.cli.requests", "look a write up by request id"),
    "backfill": ("batcher_service.cli.backfill", "start, watch or cancel a backfill"),
}


def usage() -> str:
    lines = ["usage: python -m batcher_service [COMMAND] [ARGS...]", "", "commands:"]
    lines += [f"  {name:<13} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run one command; ``python -m batcher_service COMMAND -h`` gives its own arguments."""
    if argv and argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, args = (argv[0], argv[1:]) if argv else ("worker", [])
    if name not in COMMANDS:
        print(f"batcher-service: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    command: int = importlib.import_module(COMMANDS[name][0]).main(args)
    return command


def run() -> None:
    """The ``write-batcher`` console script."""
    exit_process(main(sys.argv[1:]))
