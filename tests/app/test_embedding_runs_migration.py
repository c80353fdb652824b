"""Migration 0007 (embedding runs) on SQLite and PostgreSQL: it builds what the ORM declares and undoes itself."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from app.core.migrate import alembic_config, upgrade_to_head
from app.core.tables import metadata


def test_0007_builds_the_embedding_runs_table_as_declared_and_undoes_itself(fresh_database: str) -> None:
    upgrade_to_head(fresh_database)
    engine = create_engine(fresh_database)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
        assert not [d for d in differences if "embedding_runs" in repr(d)], differences
        command.downgrade(alembic_config(fresh_database), "0006")
        assert "embedding_runs" not in inspect(engine).get_table_names()
        upgrade_to_head(fresh_database)
        assert "embedding_runs" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
