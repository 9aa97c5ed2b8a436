"""The batcher's command line: python -m batcher_service <command>."""
