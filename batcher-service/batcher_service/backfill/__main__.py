"""Entry point: ``python -m batcher_service.backfill start|watch|cancel``."""

import sys

from batcher_service.backfill.cli import main
from shared.lifecycle import exit_process

if __name__ == "__main__":
    exit_process(main(sys.argv[1:]))
