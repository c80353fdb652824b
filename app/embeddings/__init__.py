"""Serving embeddings from registered encoders."""
