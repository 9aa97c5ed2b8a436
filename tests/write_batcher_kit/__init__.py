"""Tests of write_batcher_kit."""
