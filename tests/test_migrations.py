"""Migrations are the schema: they run both ways and match the models."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from callsvc import models  # noqa: F401
from callsvc.db import build_engine, metadata
from callsvc.schema import alembic_config, is_at_head, upgrade_to_head
from tests.factories import ExplicitSettings


def test_models_and_migrations_do_not_drift(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
        assert is_at_head(connection)


def test_upgrade_downgrade_upgrade(tmp_sqlite_url):
    engine = build_engine(ExplicitSettings(database_url=tmp_sqlite_url))
    upgrade_to_head(engine)
    with engine.connect() as connection:
        command.downgrade(alembic_config(connection), "base")
        connection.commit()
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
    upgrade_to_head(engine)
    with engine.connect() as connection:
        assert is_at_head(connection)
        assert "call" in inspect(connection).get_table_names()
    engine.dispose()
