"""Alembic environment: run by `qylon server migrate` (no alembic.ini needed).

Autogenerate compares only the tables this package owns: tables other engines
keep in the same database (DBOS Transact, eventsourcing) are ignored.
"""

from __future__ import annotations

from alembic import context

from qylon_server.migrate import include_object
from qylon_server.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from sqlalchemy import create_engine

        engine = create_engine(config.get_main_option("sqlalchemy.url"))
        with engine.connect() as connection:
            _migrate(connection)
            connection.commit()
        engine.dispose()
    else:
        _migrate(connection)


def _migrate(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        version_table="qylon_alembic_version",
    )
    with context.begin_transaction():
        context.run_migrations()


run()
