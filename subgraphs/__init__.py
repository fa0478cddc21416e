"""Finpace's business domains, one federated subgraph package each."""
