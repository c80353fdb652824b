"""Canonical, training-ready data forms and the batching over them."""
