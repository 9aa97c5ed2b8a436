"""The embedded default: a Temporal dev server, PostgreSQL and both workers on one machine."""
