"""Prometheus, Alertmanager, alert rules and the consumer lag exporter."""
