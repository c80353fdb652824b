"""job phase and ETA

Revision ID: 0010
Revises: 0009 (re-chain onto the latest revision at merge)
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("phase", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("eta_seconds", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("eta_seconds")
        batch.drop_column("phase")
