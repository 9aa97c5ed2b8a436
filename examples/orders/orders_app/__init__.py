"""The orders example: a workflow that writes an order and its event through the batcher."""
