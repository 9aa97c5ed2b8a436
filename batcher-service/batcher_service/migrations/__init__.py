"""Versioned SQL steps of the batcher's own tables, applied by ``batcher_service.migrate``."""
