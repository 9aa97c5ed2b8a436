"""Ack delivery through the Temporal client: concurrent, retried, never failing a flush."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from shared.names import ACK_SIGNAL
from shared.payloads import AddressedAck

log = logging.getLogger(__name__)

_GONE = (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION)


@dataclass
class AckTally:
    sent: int = 0
    failed: int = 0


class AckSender:
    """Signals acks to callers; a caller that is gone is counted and dropped."""

    def __init__(self, client: Client, concurrency: int = 64, attempts: int = 4) -> None:
        self._client = client
        self._slots = asyncio.Semaphore(concurrency)
        self._attempts = attempts

    async def send(self, acks: list[AddressedAck]) -> AckTally:
        tally = AckTally()
        await asyncio.gather(*(self._send_one(item, tally) for item in acks))
        return tally

    async def _send_one(self, item: AddressedAck, tally: AckTally) -> None:
        handle = self._client.get_workflow_handle(item.caller_workflow_id)
        delay = 0.1
        async with self._slots:
            for attempt in range(1, self._attempts + 1):
                try:
                    await handle.signal(ACK_SIGNAL, item.ack)
                    tally.sent += 1
                    return
                except RPCError as err:
                    if err.status in _GONE or attempt == self._attempts:
                        tally.failed += 1
                        log.warning(
                            "ack %s to %s dropped: %s",
                            item.ack.request_id,
                            item.caller_workflow_id,
                            err.message,
                        )
                        return
                await asyncio.sleep(delay)
                delay *= 2
