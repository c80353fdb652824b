"""Similarity search over an embedding run's vectors: an index is the tenant's handle on a run to search."""
