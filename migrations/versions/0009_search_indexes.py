"""search indexes over embedding runs

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "search_indexes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("embedding_run_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("num_items", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["embedding_run_id"], ["embedding_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("search_indexes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_search_indexes_tenant"), ["tenant"], unique=False)
        batch_op.create_index(batch_op.f("ix_search_indexes_embedding_run_id"), ["embedding_run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_search_indexes_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("search_indexes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_search_indexes_created_at"))
        batch_op.drop_index(batch_op.f("ix_search_indexes_embedding_run_id"))
        batch_op.drop_index(batch_op.f("ix_search_indexes_tenant"))
    op.drop_table("search_indexes")
