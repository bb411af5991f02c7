"""Kafka topics, envelope validation, producers, the worker loop, dead letters, the outbox relay."""
