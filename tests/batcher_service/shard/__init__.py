"""Tests of batcher_service/shard."""
