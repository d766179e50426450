"""Raw deliveries kept as bytes, with the retry state of transient failures; leases on calls for jobs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import callsvc.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("provider_event") as batch_op:
        batch_op.alter_column(
            "body",
            existing_type=sa.Text(),
            type_=sa.LargeBinary(),
            existing_nullable=False,
            postgresql_using="convert_to(body, 'UTF8')",
        )
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("next_attempt_at", callsvc.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("lease_until", callsvc.db.UTCDateTime(), nullable=True))
        batch_op.create_index("ix_provider_event_next_attempt_at", ["next_attempt_at"], unique=False)
    with op.batch_alter_table("provider_event") as batch_op:
        batch_op.alter_column("attempts", server_default=None)
    with op.batch_alter_table("call") as batch_op:
        batch_op.add_column(sa.Column("lease_until", callsvc.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call") as batch_op:
        batch_op.drop_column("lease_until")
    with op.batch_alter_table("provider_event") as batch_op:
        batch_op.drop_index("ix_provider_event_next_attempt_at")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempts")
        batch_op.alter_column(
            "body",
            existing_type=sa.LargeBinary(),
            type_=sa.Text(),
            existing_nullable=False,
            postgresql_using="convert_from(body, 'UTF8')",
        )
