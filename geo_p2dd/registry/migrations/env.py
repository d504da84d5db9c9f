"""Alembic environment of the register, run by :func:`geo_p2dd.registry.db.upgrade`.

The caller passes an open connection in ``config.attributes["connection"]``
(inside a transaction that already holds the database's write lock), so the
migrations run in that transaction.
"""

from __future__ import annotations

from alembic import context

from geo_p2dd.registry.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only the alembic command line gets here
    raise RuntimeError("run the register's migrations with geo_p2dd.registry.db.upgrade()")

context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
