"""The register's database engine: a SQLite file in the project, or PostgreSQL.

:func:`database_url` chooses the database: an explicit URL, else the
environment variable ``GEO_P2DD_DATABASE_URL`` (an SQLAlchemy URL such as
``postgresql+psycopg://user@host:5432/db``), else ``<project>/register.sqlite``.
:func:`make_engine` configures SQLite for several writers (WAL journal, foreign
keys, a busy timeout, and ``BEGIN IMMEDIATE`` for write transactions so two
writers queue instead of failing); :func:`upgrade` brings the schema to the
newest Alembic revision, once, even when several processes open the database
at the same moment.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from geo_p2dd.errors import ConfigError, ConfigProblem, ProjectError

if TYPE_CHECKING:  # SQLAlchemy and Alembic are imported when a register is opened, not
    # before: a project without a register (a national analysis) never loads them (~0.4 s)
    from alembic.config import Config
    from sqlalchemy import Connection, Engine

#: the environment variable naming a database server for every command and for serve
URL_VARIABLE = "GEO_P2DD_DATABASE_URL"
#: the SQLite file of a project without a database server
SQLITE_NAME = "register.sqlite"
#: how long a SQLite writer waits for another one, in milliseconds
BUSY_TIMEOUT_MS = 30_000
MIGRATIONS = Path(__file__).with_name("migrations")
#: a fixed key for PostgreSQL's advisory lock around migrations
_MIGRATION_LOCK = 6411_2026


def database_url(project_path: str | Path | None = None, url: str | None = None) -> str:
    """The SQLAlchemy URL of the register.

    Parameters
    ----------
    project_path : str or Path, optional
        The project directory; its ``register.sqlite`` is the default database.
    url : str, optional
        An explicit URL; wins over the environment.

    Returns
    -------
    str
        ``url``, else ``$GEO_P2DD_DATABASE_URL``, else ``sqlite:///<project>/register.sqlite``.
    """
    chosen = url or os.environ.get(URL_VARIABLE, "").strip()
    if chosen:
        return chosen
    if project_path is None:
        raise ConfigError([ConfigProblem(
            URL_VARIABLE, "no register database", expected="a project directory or an "
            "SQLAlchemy URL such as postgresql+psycopg://user@host:5432/db", found="neither")])
    directory = Path(project_path)
    if not directory.is_dir():
        raise ProjectError(f"{directory} is not a project directory (it does not exist); create "
                           "one with 'geo-p2dd init DIR --villages FILE'")
    return f"sqlite:///{directory.resolve() / SQLITE_NAME}"


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys, a busy timeout, immediate writes.

    Parameters
    ----------
    url : str
        An SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg://...``).
    **kwargs
        Passed to :func:`sqlalchemy.create_engine`.

    Returns
    -------
    sqlalchemy.Engine
    """
    from sqlalchemy import create_engine

    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        # the driver must not open transactions itself: "begin" below does, as asked
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")  # durable at each WAL checkpoint
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # a deferred transaction that later writes can fail at once with SQLITE_BUSY (its
        # snapshot is stale); an immediate one waits for the write lock (busy_timeout)
        write = conn.get_execution_options().get("write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction: committed on success, rolled back on error.

    On SQLite the transaction takes the write lock when it starts (``BEGIN
    IMMEDIATE``), so concurrent writers wait their turn (up to the busy
    timeout) instead of failing half-way.
    """
    with engine.connect() as conn:
        conn.execution_options(write=True)
        with conn.begin():
            yield conn


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a read transaction (one consistent snapshot)."""
    with engine.connect() as conn, conn.begin():
        yield conn


def alembic_config() -> Config:
    """The Alembic configuration of the register (migrations inside the package)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest migration's revision id."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Migrate the database to the newest revision (a no-op when it is there).

    Runs in one write transaction; on PostgreSQL under an advisory lock, so
    processes that open a new database together migrate it once.
    """
    from alembic import command
    from sqlalchemy import text

    head = head_revision()
    if current_revision(engine) == head:
        return
    config = alembic_config()
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def open_database(project_path: str | Path | None = None, url: str | None = None,
                  **kwargs) -> Engine:
    """The register of a project (or at ``url``), migrated to the newest revision.

    Parameters
    ----------
    project_path : str or Path, optional
        The project directory (for the default SQLite file).
    url : str, optional
        An explicit SQLAlchemy URL (else ``$GEO_P2DD_DATABASE_URL``).
    **kwargs
        Passed to :func:`make_engine`.

    Returns
    -------
    sqlalchemy.Engine
    """
    engine = make_engine(database_url(project_path, url), **kwargs)
    upgrade(engine)
    return engine
