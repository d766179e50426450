"""Alembic environment: runs on the connection callsvc hands it, or on CALLSVC_DATABASE_URL."""

from alembic import context
from sqlalchemy import Connection

from callsvc import models  # noqa: F401  (registers every table on the metadata)
from callsvc.db import build_engine, metadata
from callsvc.settings import Settings


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    with build_engine(Settings()).connect() as own_connection:
        run_migrations(own_connection)
        own_connection.commit()
