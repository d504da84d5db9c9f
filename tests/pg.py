"""A real PostgreSQL 15 + PostGIS for tests, started by the test session itself.

Import the fixtures from a test module (``from pg import pg_cluster, pg_url``):

- ``pg_cluster`` (session): ``initdb`` into a fresh temporary directory and
  ``pg_ctl start`` on a free port, listening on a Unix socket only; PostGIS is
  created in ``template1`` so every new database has it; stopped and removed
  at teardown. As root the server runs as the ``postgres`` user.
- ``pg_url`` (module): a fresh database per test module; its SQLAlchemy URL.
- ``register_engine`` (params ``sqlite``, ``postgresql``): an empty, migrated
  register — a SQLite file in the test's temporary directory, or the module's
  PostgreSQL database with every register table emptied — disposed after the
  test. Import it together with ``pg_cluster`` and ``pg_url``.

Without the PostgreSQL binaries or PostGIS the tests that use them skip with
the reason — except when the environment variable ``CI`` is set, where they
fail, so CI really runs them (``.ci/run`` installs ``postgresql-15-postgis-3``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin",)
POSTGIS_LIB = "postgis-3.so"


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so PostgreSQL tests must run; .ci/run installs "
                    "postgresql-15-postgis-3)", pytrace=False)
    pytest.skip(reason)


def _bin_dir() -> Path | None:
    for d in PG_BIN_DIRS:
        if (Path(d) / "pg_ctl").exists():
            return Path(d)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """A running server: where its socket is, and how to reach a database on it."""

    bindir: Path
    root: Path
    port: int
    user: str = "postgres"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    def url(self, database: str, driver: str = "postgresql+psycopg") -> str:
        return (f"{driver}://{self.user}@/{database}"
                f"?host={self.socket_dir}&port={self.port}")

    def execute(self, sql: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(host=str(self.socket_dir), port=self.port, user=self.user,
                             dbname=database, autocommit=True) as conn:
            conn.execute(sql)


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        runuser = shutil.which("runuser")
        return [runuser, "-u", "postgres", "--", *cmd] if runuser else \
            ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(cmd)]
    return cmd


def _run(cmd: list[str]) -> None:
    done = subprocess.run(_as_server_user(cmd), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}"
                           f"\n{done.stderr}")


def postgis_missing() -> str | None:
    """Why no PostgreSQL + PostGIS server can be started here (None when one can)."""
    bindir = _bin_dir()
    if bindir is None:
        return ("PostgreSQL binaries (initdb, pg_ctl) not found in "
                f"{', '.join(PG_BIN_DIRS)} or on PATH")
    pkglib = subprocess.run([str(bindir / "pg_config"), "--pkglibdir"], capture_output=True,
                            text=True).stdout.strip() if (bindir / "pg_config").exists() \
        else str(bindir.parent / "lib")
    if not (Path(pkglib) / POSTGIS_LIB).exists():
        return (f"PostGIS is not installed for this PostgreSQL ({pkglib}/{POSTGIS_LIB} "
                "missing)")
    return None


@contextmanager
def temporary_cluster() -> Iterator[Cluster]:
    """Start a throwaway PostgreSQL + PostGIS server; stop and remove it on exit.

    Also used by ``bench/register_edit.py --postgres``.
    """
    reason = postgis_missing()
    if reason:
        raise RuntimeError(reason)
    bindir = _bin_dir()
    assert bindir is not None
    # a short path of its own (Unix sockets allow ~100 characters; pytest's tmp dirs are
    # private to root, and the server runs as postgres)
    root = Path(tempfile.mkdtemp(prefix="geo-p2dd-pg-"))
    (root / "sock").mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(root / "sock", "postgres", "postgres")
    cluster = Cluster(bindir, root, _free_port())
    data = root / "data"
    try:
        _run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
              "-E", "UTF8", "--locale=C", "--no-sync"])
        options = (f"-p {cluster.port} -k {cluster.socket_dir} -c listen_addresses='' "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=100 -c lock_timeout=60s")
        _run([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
              str(root / "server.log"), "-w", "-t", "60", "start"])
        try:
            cluster.execute("CREATE EXTENSION postgis", database="template1")
            yield cluster
        finally:
            _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One PostgreSQL + PostGIS server for the whole test session (per xdist worker)."""
    reason = postgis_missing()
    if reason:
        _missing(reason)
    with temporary_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def pg_url(pg_cluster: Cluster) -> Iterator[str]:
    """A fresh database (PostGIS enabled) for one test module; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    pg_cluster.execute(f"CREATE DATABASE {name}")
    yield pg_cluster.url(name)
    pg_cluster.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def empty_register(engine) -> None:
    """Empty every table of the register's models (PostgreSQL: one TRUNCATE).

    PostGIS's own ``spatial_ref_sys`` and Alembic's version table are left alone.
    """
    from sqlalchemy import text

    from geo_p2dd.registry.db import write_transaction
    from geo_p2dd.registry.models import Base

    names = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with write_transaction(engine) as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def register_engine(request, tmp_path, monkeypatch):
    """An empty, migrated register on SQLite or on a real PostgreSQL + PostGIS."""
    from geo_p2dd.registry import db

    monkeypatch.delenv(db.URL_VARIABLE, raising=False)
    if request.param == "sqlite":
        (tmp_path / "register").mkdir()
        engine = db.open_database(tmp_path / "register")
    else:
        engine = db.open_database(url=request.getfixturevalue("pg_url"))
        empty_register(engine)
    yield engine
    engine.dispose()
