"""The audit subgraph: tamper-evident, hash-chained evidence of every domain event."""
