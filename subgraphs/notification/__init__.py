"""The notification subgraph: templated messages governed by preferences and consent, delivered through adapters."""
