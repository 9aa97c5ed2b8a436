"""Load-test starter: drive payments at a rate or a concurrency and report what PostgreSQL got."""
