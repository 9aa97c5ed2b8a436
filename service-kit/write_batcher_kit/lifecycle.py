"""Process lifecycle for the workers: logging setup and running until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from typing import NoReturn


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


async def wait_for_stop_signal() -> None:
    """Return on the first SIGINT or SIGTERM; the caller then shuts down gracefully."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    logging.getLogger(__name__).info("stop signal received, shutting down")


def stop_children_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C, so ``finally`` blocks stop the processes we started.

    Python's default SIGTERM ends the process at once: servers and workers started with
    ``start_new_session`` would be left running.
    """

    def raise_exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, raise_exit)


def exit_process(code: int) -> NoReturn:
    """Exit with ``code`` once everything was shut down inside the event loop.

    The Temporal SDK's native threads can abort interpreter finalization
    (``Fatal Python error: PyGILState_Release``, exit 134) after all work is done, which
    would turn a clean, graceful stop into a crash. Workers, clients and servers are closed
    before this is called, so skipping finalization loses nothing; output is flushed first.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
