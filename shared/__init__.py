"""Finpace's cross-cutting kit: settings, database, money, errors, events, outbox, messaging, auth, apps."""
