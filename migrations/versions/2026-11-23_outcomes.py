"""Outcomes: the catalogue (seeded), the outcome history, and the index of calls waiting for one.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:10:21.996356
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import callsvc.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEED = [
    {"code": "negotiation", "label": "Negotiation", "is_negotiation": True},
    {"code": "meeting", "label": "Meeting booked", "is_negotiation": True},
    {"code": "callback", "label": "Call back", "requires_follow_up": True},
    {"code": "existing_client", "label": "Existing client"},
    {"code": "no_need", "label": "No need"},
    {"code": "wrong_number", "label": "Wrong number"},
    {"code": "spam", "label": "Spam"},
]
FLAGS = {"is_negotiation": False, "requires_follow_up": False, "requires_note": False, "min_talk_seconds": 0}


def upgrade() -> None:
    outcome = op.create_table(
        "outcome",
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("is_negotiation", sa.Boolean(), nullable=False),
        sa.Column("requires_follow_up", sa.Boolean(), nullable=False),
        sa.Column("requires_note", sa.Boolean(), nullable=False),
        sa.Column("min_talk_seconds", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_outcome")),
    )
    op.bulk_insert(outcome, [{**FLAGS, "active": True, **row} for row in SEED])

    op.create_table(
        "outcome_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=50), nullable=False),
        sa.Column("previous", sa.String(length=50), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("follow_up_at", callsvc.db.UTCDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=500), nullable=False),
        sa.Column("at", callsvc.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["call.id"], name=op.f("fk_outcome_change_call_id_call")),
        sa.ForeignKeyConstraint(["key_id"], ["api_key.id"], name=op.f("fk_outcome_change_key_id_api_key")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcome_change")),
    )
    with op.batch_alter_table("outcome_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outcome_change_call_id"), ["call_id"], unique=False)

    with op.batch_alter_table("call", schema=None) as batch_op:
        batch_op.create_index(
            "ix_call_pending",
            ["manager_id", "tag_due_at"],
            unique=False,
            sqlite_where=sa.text("needs_outcome = 1 AND outcome IS NULL"),
            postgresql_where=sa.text("needs_outcome AND outcome IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("call", schema=None) as batch_op:
        batch_op.drop_index("ix_call_pending")
    with op.batch_alter_table("outcome_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outcome_change_call_id"))
    op.drop_table("outcome_change")
    op.drop_table("outcome")
