"""Migration 0005 (jobs get a kind, datasets an error) on SQLite and PostgreSQL: it builds what the ORM declares,
keeps the jobs that were there as training jobs, and undoes itself."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from app.core.migrate import alembic_config, upgrade_to_head
from app.core.tables import metadata

OLD_JOB = (
    "INSERT INTO jobs (id, tenant, method, params, status, cancel_requested, epoch, epochs, step, total_steps, "
    "metrics, attempts, created_at, checkpoint_bytes) VALUES ('job_old', 'acme', 'simclr', '{}', 'succeeded', "
    "false, 1, 1, 1, 1, '{}', 1, CURRENT_TIMESTAMP, 0)"
)


def columns(engine: object, table: str) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns(table)}  # type: ignore[arg-type]


def test_0005_adds_the_kind_and_the_error_keeps_old_jobs_training_and_undoes_itself(fresh_database: str) -> None:
    config = alembic_config(fresh_database)
    command.upgrade(config, "0004")
    engine = create_engine(fresh_database)
    try:
        with engine.begin() as connection:
            connection.execute(text(OLD_JOB))
        upgrade_to_head(fresh_database)
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
            assert connection.scalar(text("SELECT kind FROM jobs WHERE id = 'job_old'")) == "train"
        assert not [d for d in differences if "kind" in repr(d) or "'error'" in repr(d)], differences
        assert "kind" in columns(engine, "jobs") and "error" in columns(engine, "datasets")
        assert "ix_jobs_kind" in {index["name"] for index in inspect(engine).get_indexes("jobs")}

        command.downgrade(config, "0004")
        assert "kind" not in columns(engine, "jobs") and "error" not in columns(engine, "datasets")
        upgrade_to_head(fresh_database)
        assert "kind" in columns(engine, "jobs")
    finally:
        engine.dispose()
