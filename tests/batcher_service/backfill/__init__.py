"""Tests of batcher_service/backfill."""
