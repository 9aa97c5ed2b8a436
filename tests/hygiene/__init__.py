"""Tests of hygiene."""
