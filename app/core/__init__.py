"""Cross-cutting service plumbing: settings, database, storage, queue, errors."""
