"""The Celery side: a thin adapter between job rows and the selfsup engine."""
