"""Versioned SQL steps of the batcher's own tables (``batcher_service.postgres.migrate``)."""
