"""Tests of batcher_service/intake."""
