"""batcher-service: batcher workflows and the only code that writes to PostgreSQL."""
