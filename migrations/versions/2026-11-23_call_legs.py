"""Legs of a call's events, for sequences that count per leg; the provider's reason for a missed call.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("call_event") as batch_op:
        batch_op.add_column(sa.Column("leg", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("missed_call_reason", sa.String(length=50), nullable=True))
    with op.batch_alter_table("call") as batch_op:
        batch_op.add_column(sa.Column("missed_call_reason", sa.String(length=50), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call") as batch_op:
        batch_op.drop_column("missed_call_reason")
    with op.batch_alter_table("call_event") as batch_op:
        batch_op.drop_column("missed_call_reason")
        batch_op.drop_column("leg")
