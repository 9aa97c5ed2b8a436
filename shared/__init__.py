"""The contract shared by main-service and batcher-service: names, payloads, settings."""
