"""Tests of main_service."""
