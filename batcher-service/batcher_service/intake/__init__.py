"""Where writes enter the batcher service: the callers' write activity, and withdrawals."""
