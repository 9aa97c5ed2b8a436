"""Per-test task queues and batcher ids, so tests sharing a server never meet."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Queues:
    main: str
    batcher: str
    prefix: str

    @classmethod
    def unique(cls) -> Queues:
        tag = uuid.uuid4().hex[:8]
        return cls(f"main-{tag}", f"batcher-{tag}", f"write-batcher-{tag}")

    def batcher_id(self, shard: int = 0) -> str:
        return f"{self.prefix}-{shard}"
