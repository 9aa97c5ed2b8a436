"""One shard's batcher workflow: its state, its policy, its activities."""
