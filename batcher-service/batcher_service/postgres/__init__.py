"""Everything that talks to PostgreSQL: the pool, the bulk write, the batcher's own tables."""
