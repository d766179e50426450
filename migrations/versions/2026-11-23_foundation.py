"""Foundation: managers, API keys, calls, their events and the raw deliveries.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 11:03:19.439455
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import callsvc.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "manager",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("team", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", callsvc.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", callsvc.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manager")),
    )
    with op.batch_alter_table("manager", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_manager_team"), ["team"], unique=False)

    op.create_table(
        "provider_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("type", sa.String(length=100), nullable=True),
        sa.Column("provider_call_id", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", callsvc.db.UTCDateTime(), nullable=False),
        sa.Column("applied_at", callsvc.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_event")),
        sa.UniqueConstraint("provider", "dedupe_key", name=op.f("uq_provider_event_provider_dedupe_key")),
    )
    with op.batch_alter_table("provider_event", schema=None) as batch_op:
        batch_op.create_index("ix_provider_event_call", ["provider", "provider_call_id"], unique=False)
        batch_op.create_index("ix_provider_event_status_id", ["status", "id"], unique=False)

    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("team", sa.String(length=200), nullable=True),
        sa.Column("manager_id", sa.Integer(), nullable=True),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", callsvc.db.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", callsvc.db.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", callsvc.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["manager_id"], ["manager.id"], name=op.f("fk_api_key_manager_id_manager")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_key_key_hash")),
    )
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_key_manager_id"), ["manager_id"], unique=False)

    op.create_table(
        "call",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("provider_call_id", sa.String(length=200), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("client_number", sa.String(length=20), nullable=True),
        sa.Column("line_number", sa.String(length=20), nullable=True),
        sa.Column("manager_id", sa.Integer(), nullable=True),
        sa.Column("manager_assigned_by", sa.String(length=200), nullable=True),
        sa.Column("started_at", callsvc.db.UTCDateTime(), nullable=False),
        sa.Column("answered_at", callsvc.db.UTCDateTime(), nullable=True),
        sa.Column("ended_at", callsvc.db.UTCDateTime(), nullable=True),
        sa.Column("wait_seconds", sa.Integer(), nullable=True),
        sa.Column("talk_seconds", sa.Integer(), nullable=True),
        sa.Column("recording_url", sa.Text(), nullable=True),
        sa.Column("recording_ref", sa.String(length=200), nullable=True),
        sa.Column("needs_outcome", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=50), nullable=True),
        sa.Column("outcome_note", sa.Text(), nullable=True),
        sa.Column("follow_up_at", callsvc.db.UTCDateTime(), nullable=True),
        sa.Column("tagged_at", callsvc.db.UTCDateTime(), nullable=True),
        sa.Column("tagged_by", sa.String(length=200), nullable=True),
        sa.Column("tag_due_at", callsvc.db.UTCDateTime(), nullable=True),
        sa.Column("overdue_at", callsvc.db.UTCDateTime(), nullable=True),
        sa.Column("escalated_at", callsvc.db.UTCDateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", callsvc.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", callsvc.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["manager_id"], ["manager.id"], name=op.f("fk_call_manager_id_manager")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call")),
        sa.UniqueConstraint("provider", "provider_call_id", name=op.f("uq_call_provider_provider_call_id")),
    )
    with op.batch_alter_table("call", schema=None) as batch_op:
        batch_op.create_index("ix_call_client_number_started_at", ["client_number", "started_at"], unique=False)
        batch_op.create_index("ix_call_manager_id_started_at", ["manager_id", "started_at"], unique=False)
        batch_op.create_index("ix_call_started_at", ["started_at"], unique=False)
        batch_op.create_index("ix_call_updated_at_id", ["updated_at", "id"], unique=False)

    op.create_table(
        "manager_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("manager_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("identity", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["manager_id"], ["manager.id"], name=op.f("fk_manager_identity_manager_id_manager")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manager_identity")),
        sa.UniqueConstraint("provider", "identity", name=op.f("uq_manager_identity_provider_identity")),
    )
    with op.batch_alter_table("manager_identity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_manager_identity_manager_id"), ["manager_id"], unique=False)

    op.create_table(
        "call_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("provider_event_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("occurred_at", callsvc.db.UTCDateTime(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("direction", sa.String(length=10), nullable=True),
        sa.Column("from_number", sa.String(length=200), nullable=True),
        sa.Column("to_number", sa.String(length=200), nullable=True),
        sa.Column("identity", sa.String(length=200), nullable=True),
        sa.Column("manager_id", sa.Integer(), nullable=True),
        sa.Column("disposition", sa.String(length=12), nullable=True),
        sa.Column("talk_seconds", sa.Integer(), nullable=True),
        sa.Column("recording_url", sa.Text(), nullable=True),
        sa.Column("recording_ref", sa.String(length=200), nullable=True),
        sa.Column("tie_break", sa.String(length=250), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["call.id"], name=op.f("fk_call_event_call_id_call")),
        sa.ForeignKeyConstraint(["manager_id"], ["manager.id"], name=op.f("fk_call_event_manager_id_manager")),
        sa.ForeignKeyConstraint(
            ["provider_event_id"],
            ["provider_event.id"],
            name=op.f("fk_call_event_provider_event_id_provider_event"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_event")),
    )
    with op.batch_alter_table("call_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_call_event_call_id"), ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_call_event_provider_event_id"), ["provider_event_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("call_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_event_provider_event_id"))
        batch_op.drop_index(batch_op.f("ix_call_event_call_id"))

    op.drop_table("call_event")
    with op.batch_alter_table("manager_identity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_manager_identity_manager_id"))

    op.drop_table("manager_identity")
    with op.batch_alter_table("call", schema=None) as batch_op:
        batch_op.drop_index("ix_call_updated_at_id")
        batch_op.drop_index("ix_call_started_at")
        batch_op.drop_index("ix_call_manager_id_started_at")
        batch_op.drop_index("ix_call_client_number_started_at")

    op.drop_table("call")
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_key_manager_id"))

    op.drop_table("api_key")
    with op.batch_alter_table("provider_event", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_event_status_id")
        batch_op.drop_index("ix_provider_event_call")

    op.drop_table("provider_event")
    with op.batch_alter_table("manager", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_manager_team"))

    op.drop_table("manager")
