"""Entry point: ``python -m batcher_service [COMMAND ...]``; the worker when no command is given."""

from __future__ import annotations

import sys

from batcher_service.cli.main import main
from write_batcher_kit.lifecycle import exit_process

if __name__ == "__main__":
    exit_process(main(sys.argv[1:]))
