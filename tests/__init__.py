"""Finpace test suite: mirrors the source tree; real PostgreSQL and NATS JetStream."""
