"""Pretraining jobs: validation, the queued -> running -> finished life cycle, leases and cancellation."""
