"""The partner subgraph: partner registrations, entitled event streams and signed webhooks."""
