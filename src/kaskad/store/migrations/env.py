"""Alembic environment for kaskad's registry schema.

kaskad runs migrations itself (``Store.open``) on a connection it has already opened
and begun a transaction on; that connection arrives in ``config.attributes``. There is
no ``alembic.ini``: the CLI route ``alembic upgrade`` is deliberately not supported.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from kaskad.store.tables import Base, include_object

VERSION_TABLE = "kaskad_alembic_version"


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "kaskad migrations run through kaskad.store.Store.open, which passes an open"
            " connection in config.attributes['connection']"
        )
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
