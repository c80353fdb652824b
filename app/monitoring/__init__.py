"""Operators' view of the service: Prometheus metrics at /metrics, JSON logs."""
