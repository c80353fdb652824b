"""Uploading, ingesting, listing and deleting datasets."""
