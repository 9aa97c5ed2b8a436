"""Tests of write_batcher."""
