"""Tests of batcher_service/cli."""
