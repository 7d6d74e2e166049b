"""Helpers shipped for tests: a managed local cluster, topic factories, and broker-free drivers."""
