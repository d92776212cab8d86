"""The job database as the first embedded store made it (SQLite ``user_version`` 1).

A file written by that store is stamped at this revision, then upgraded.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ACTIVE = sa.text("status IN ('queued', 'running')")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Text, nullable=False, unique=True),
        sa.Column("adapter", sa.Text, nullable=False),
        sa.Column("user_id", sa.Text),
        sa.Column("guild_id", sa.Text),
        sa.Column("channel_id", sa.Text),
        sa.Column("display_name", sa.Text),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("parameters", sa.Text, nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("usage_images", sa.Integer, nullable=False, server_default="0"),
        sa.Column("usage_output_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("usage_total_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text),
        sa.Column("error_kind", sa.Text),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("started_at", sa.Text),
        sa.Column("finished_at", sa.Text),
        sa.Column("parent_id", sa.Text),
        sa.Column("extra", sa.Text, nullable=False, server_default="{}"),
        sa.Column("owner_host", sa.Text),
        sa.Column("owner_pid", sa.Integer),
        sa.Column("owner_start", sa.Text),
        sa.Column("owner_token", sa.Text),
    )
    op.create_index("jobs_by_time", "jobs", ["created_at", "seq"])
    op.create_index("jobs_by_user", "jobs", ["user_id", "created_at"])
    op.create_index("jobs_active", "jobs", ["status"], sqlite_where=ACTIVE, postgresql_where=ACTIVE)
    op.create_table(
        "job_images",
        sa.Column("job_id", sa.Text, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("bytes", sa.Integer, nullable=False),
        sa.Column("format", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("seed", sa.Integer),
        sa.Column("source_url", sa.Text),
        sa.Column("url_expires_at", sa.Text),
        sa.Column("sidecar_path", sa.Text),
        sa.PrimaryKeyConstraint("job_id", "idx"),
    )
    op.create_table(
        "job_failures",
        sa.Column("job_id", sa.Text, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index("job_failures_by_job", "job_failures", ["job_id", "idx"])
    op.create_table(
        "quotas",
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("day", sa.Text, nullable=False),
        sa.Column("used", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("key", "day"),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("meta", "quotas", "job_failures", "job_images", "jobs"):
        op.drop_table(table)
