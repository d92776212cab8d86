"""Each failure's kind, and a heartbeat row per owning process (jobs of a dead owner on any host).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("job_failures", sa.Column("kind", sa.Text))
    op.create_table(
        "owners",
        sa.Column("token", sa.Text, primary_key=True),
        sa.Column("host", sa.Text),
        sa.Column("pid", sa.Integer),
        sa.Column("start_time", sa.Text),
        sa.Column("heartbeat_at", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("owners")
    with op.batch_alter_table("job_failures") as batch:
        batch.drop_column("kind")
