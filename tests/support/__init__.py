"""Helpers shared by the service tests: real image data, real databases, real processes."""
