"""Alembic migrations; ``app.core.migrate`` runs them."""
