"""Apply the Alembic migrations, which are the only source of the schema."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

# A fixed key for pg_advisory_lock, so that processes starting together migrate one at a time.
MIGRATION_LOCK_KEY = 72_231_905


def migrations_path() -> Path:
    """Locate the migrations: packaged inside the wheel, or beside the package in a checkout."""
    package_dir = Path(__file__).resolve().parent
    packaged = package_dir / "migrations"
    return packaged if packaged.is_dir() else package_dir.parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """Build the Alembic configuration without an ini file."""
    config = Config()
    config.set_main_option("script_location", str(migrations_path()))
    config.attributes["connection"] = connection
    return config


def upgrade_to_head(engine: Engine) -> None:
    """Migrate the database to head, holding an advisory lock on PostgreSQL."""
    with engine.connect() as connection:
        is_postgres = connection.dialect.name == "postgresql"
        if is_postgres:
            # The request timeouts are not for migrations: a process waits out another's migration
            # for the advisory lock, and rewriting a big table takes as long as it takes.
            connection.execute(text("SET statement_timeout = 0"))
            connection.execute(text("SET lock_timeout = 0"))
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
        try:
            command.upgrade(alembic_config(connection), "head")
            connection.commit()
        finally:
            if is_postgres:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                connection.execute(text("RESET statement_timeout"))
                connection.execute(text("RESET lock_timeout"))
                connection.commit()


def is_at_head(connection: Connection) -> bool:
    """Tell whether the database's revision is the newest one."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    return set(MigrationContext.configure(connection).get_current_heads()) == heads
