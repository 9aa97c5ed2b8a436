"""Tests of batcher_service."""
