"""main-service: business workflows that hand their writes to the batcher and await the ack."""
