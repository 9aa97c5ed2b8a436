"""Stable routing of a partition key to a batcher shard (never Python's salted ``hash``)."""

import hashlib

_JUMP_MULTIPLIER = 2862933555777941757
_MASK64 = (1 << 64) - 1


def _key_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


def shard_for(partition_key: str, shards: int) -> int:
    """Jump consistent hash: growing N shards to N+1 moves only ~1/(N+1) of the keys."""
    if shards < 1:
        raise ValueError("shards must be at least 1")
    key = _key_hash(partition_key)
    bucket, jump = -1, 0
    while jump < shards:
        bucket = jump
        key = (key * _JUMP_MULTIPLIER + 1) & _MASK64
        jump = int((bucket + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return bucket
