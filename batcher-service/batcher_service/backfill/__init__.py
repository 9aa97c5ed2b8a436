"""Backfill: copy a PostgreSQL table or query into the worker's database, resumably."""
