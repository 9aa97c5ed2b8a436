"""Tests of batcher_service/postgres."""
