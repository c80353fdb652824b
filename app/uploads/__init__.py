"""Resumable uploads: a large file sent in numbered parts over many requests, surviving dropped connections."""
