"""Entry point: ``python -m batcher_service.backfill start|watch|cancel``."""

import sys

from batcher_service.backfill.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
