"""Benchmark: ceilings, naive per-workflow inserts and batched writes on one embedded stack."""
