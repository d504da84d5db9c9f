"""The register database: every repository test on SQLite and on a real PostgreSQL + PostGIS."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from pg import empty_register, pg_cluster, pg_url, register_engine  # noqa: F401
from sqlalchemy import text

from geo_p2dd.errors import InputError, NotFoundError, ProjectError
from geo_p2dd.project import Project
from geo_p2dd.registry import db
from geo_p2dd.registry.migrate import (
    MoveResult,
    layer_rows,
    move_sites_layer,
    open_project_register,
    sites_layer,
)
from geo_p2dd.registry.repository import (
    PreconditionFailed,
    PreconditionRequired,
    SiteExistsError,
    SiteFilter,
    count_sites,
    create_site,
    delete_site,
    get_site,
    history,
    list_sites,
    patch_site,
)


@pytest.fixture(autouse=True)
def _no_database_url(monkeypatch):
    monkeypatch.delenv(db.URL_VARIABLE, raising=False)


@pytest.fixture
def engine(register_engine):  # noqa: F811 - the fixture of tests/pg.py
    """An empty, migrated register on SQLite or a real PostgreSQL (tests/pg.py)."""
    return register_engine


def starlink(name: str = "SD Long Apari", **extra) -> dict:
    return {"kind": "Starlink", "name": name, "status": "terpasang", "lon": 114.05,
            "lat": 0.05, "village_kode": "99.01.01.2001", "agency": "Diskominfo",
            "funding": "APBD", "year": 2024, **extra}


# --- engine and migrations ----------------------------------------------------------------

def test_default_database_is_a_wal_sqlite_file_in_the_project(tmp_path):
    (tmp_path / "p").mkdir()
    engine = db.open_database(tmp_path / "p")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == db.BUSY_TIMEOUT_MS
    engine.dispose()
    assert (tmp_path / "p" / "register.sqlite").is_file()
    tables = {r[0] for r in sqlite3.connect(tmp_path / "p" / "register.sqlite").execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"sites", "users", "api_tokens", "history", "alembic_version"} <= tables


def test_database_url_from_the_environment_wins_over_the_project(tmp_path, monkeypatch):
    monkeypatch.setenv(db.URL_VARIABLE, "postgresql+psycopg://ana@db.example:5432/register")
    assert db.database_url(tmp_path) == "postgresql+psycopg://ana@db.example:5432/register"
    assert db.database_url(tmp_path, "sqlite:///x.sqlite") == "sqlite:///x.sqlite"


def test_a_missing_project_directory_is_named(tmp_path):
    with pytest.raises(ProjectError, match="nowhere"):
        db.open_database(tmp_path / "nowhere")


def test_migrations_reach_head_once(engine):
    assert db.current_revision(engine) == db.head_revision()
    db.upgrade(engine)  # a second run is a no-op
    assert db.current_revision(engine) == db.head_revision()


def test_postgresql_sites_carry_a_postgis_point_with_a_spatial_index(request):
    engine = db.open_database(url=request.getfixturevalue("pg_url"))
    empty_register(engine)
    site, tag = create_site(engine, starlink())
    patch_site(engine, site["id"], {"lon": 114.15}, tag)
    with engine.connect() as conn:
        srid, wkt = conn.execute(text("SELECT ST_SRID(geom), ST_AsText(geom) FROM sites")).one()
        near = conn.execute(text(
            "SELECT id FROM sites WHERE ST_DWithin(geom, ST_SetSRID(ST_MakePoint(114.15, 0.05),"
            " 4326), 0.001)")).scalars().all()
        index = conn.execute(text(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'sites' AND indexname = "
            "'ix_sites_geom'")).scalar_one()
        column = conn.execute(text(
            "SELECT type, srid FROM geometry_columns WHERE f_table_name = 'sites'")).one()
    engine.dispose()
    assert srid == 4326 and wkt == "POINT(114.15 0.05)"  # follows the patched lon
    assert near == [site["id"]]
    assert "USING gist (geom)" in index
    assert tuple(column) == ("POINT", 4326)


# --- create, read, validate ---------------------------------------------------------------

def test_create_and_get_give_the_site_and_its_etag(engine):
    site, tag = create_site(engine, starlink(sipd_code="2.16.02.2.02.0001",
                                             budget_idr="150000000", budget_year=2024),
                            user="ana", source="web")
    assert site["id"] == "starlink-sd-long-apari-99.01.01.2001"
    assert tag == f'"{site["id"]}-1"'
    got, got_tag = get_site(engine, site["id"])
    assert got_tag == tag
    assert (got["kind"], got["status"], got["funding"]) == ("starlink", "installed", "apbd")
    assert (got["budget_idr"], got["budget_year"], got["sipd_code"]) == (
        150_000_000, 2024, "2.16.02.2.02.0001")
    assert got["created_at"] == got["updated_at"] and got["created_at"].endswith("+00:00")
    assert got["deleted_at"] is None and got["version"] == 1


@pytest.mark.parametrize(("field", "value"), [
    ("sipd_code", "2.16.2.2.02.0001"),
    ("status", "kira-kira"),
    ("kind", "merpati pos"),
    ("funding", 12),
    ("village_kode", "64.11"),
    ("year", 1850),
    ("budget_idr", -5),
    ("lat", "utara"),
    ("technology", "6G"),
    ("version", 7),
    ("colour", "red"),
])
def test_a_bad_field_is_named_and_nothing_is_stored(engine, field, value):
    with pytest.raises(InputError) as caught:
        create_site(engine, starlink(**{field: value}))
    assert caught.value.column == field
    # a bad value is quoted; a field one may not set is itself what was "found"
    assert (repr(field) if field in ("version", "colour") else repr(value)) in str(caught.value)
    assert list_sites(engine) == []


@pytest.mark.parametrize("field", ["kind", "name", "status", "lon", "lat"])
def test_a_missing_required_field_is_named(engine, field):
    values = starlink()
    del values[field]
    with pytest.raises(InputError, match="required") as caught:
        create_site(engine, values)
    assert caught.value.column == field


def test_a_taken_id_is_refused_and_a_made_id_gets_a_suffix(engine):
    first, _ = create_site(engine, starlink(id="S-1"))
    with pytest.raises(SiteExistsError, match="S-1"):
        create_site(engine, starlink(id="S-1", name="other"))
    a, _ = create_site(engine, starlink())
    b, _ = create_site(engine, starlink())
    assert (first["id"], b["id"]) == ("S-1", a["id"] + "-2")


def test_unknown_site_is_not_found(engine):
    with pytest.raises(NotFoundError):
        get_site(engine, "nope")
    with pytest.raises(NotFoundError):
        history(engine, "nope")


# --- change, delete, history --------------------------------------------------------------

def test_patch_needs_the_current_etag_and_records_history(engine):
    site, tag1 = create_site(engine, starlink(), user="ana", source="import")
    site, tag2 = patch_site(engine, site["id"], {"status": "sedang", "notes": "kabel datang"},
                            tag1, user="budi", source="web")
    assert tag2 == f'"{site["id"]}-2"' and site["status"] == "in_progress"
    with pytest.raises(PreconditionFailed) as stale:
        patch_site(engine, site["id"], {"status": "rencana"}, tag1, user="cici")
    assert stale.value.current == tag2
    with pytest.raises(PreconditionRequired):
        patch_site(engine, site["id"], {"status": "rencana"}, None)
    with pytest.raises(PreconditionFailed):
        patch_site(engine, site["id"], {"status": "rencana"}, '"another-site-2"')
    # a weak ETag and a no-op change keep the version, and write no history
    same, tag3 = patch_site(engine, site["id"], {"status": "in_progress"}, "W/" + tag2)
    assert tag3 == tag2 and same["version"] == 2
    changes = history(engine, site["id"])
    assert [(h["user"], h["source"]) for h in changes] == [("ana", "import"), ("budi", "web")]
    assert changes[1]["changes"] == {"status": ["installed", "in_progress"],
                                     "notes": [None, "kabel datang"]}
    assert changes[0]["changes"]["name"] == [None, "SD Long Apari"]
    assert changes[0]["at"] <= changes[1]["at"]
    assert get_site(engine, site["id"])[0]["status"] == "in_progress"


def test_a_bad_change_changes_nothing(engine):
    site, tag = create_site(engine, starlink())
    with pytest.raises(InputError) as caught:
        patch_site(engine, site["id"], {"notes": "ok", "sipd_code": "2.16"}, tag)
    assert caught.value.column == "sipd_code"
    with pytest.raises(InputError, match="cannot be changed"):
        patch_site(engine, site["id"], {"id": "other"}, tag)
    got, got_tag = get_site(engine, site["id"])
    assert got_tag == tag and got["notes"] is None and len(history(engine, site["id"])) == 1


def test_soft_delete_hides_the_site_and_keeps_its_row_and_history(engine):
    site, tag = create_site(engine, starlink(), user="ana")
    with pytest.raises(PreconditionFailed):
        delete_site(engine, site["id"], '"' + site["id"] + '-9"')
    delete_site(engine, site["id"], tag, user="ana", source="web")
    with pytest.raises(NotFoundError):
        get_site(engine, site["id"])
    with pytest.raises(NotFoundError):
        patch_site(engine, site["id"], {"notes": "x"}, f'"{site["id"]}-2"')
    with pytest.raises(NotFoundError):
        delete_site(engine, site["id"])
    gone, _ = get_site(engine, site["id"], include_deleted=True)
    assert gone["deleted_at"] is not None and gone["version"] == 2
    assert list_sites(engine) == []
    assert [s["id"] for s in list_sites(engine, SiteFilter(include_deleted=True))] == [
        site["id"]]
    last = history(engine, site["id"])[-1]
    assert (last["user"], last["source"], list(last["changes"])) == ("ana", "web",
                                                                     ["deleted_at"])


def test_list_filters(engine):
    create_site(engine, starlink("A"))
    create_site(engine, starlink("B", status="rencana", year=2026, lon=114.25,
                                 village_kode="99.01.02.2001", agency="BAKTI"))
    create_site(engine, starlink("C", kind="bts", status="usulan", year=2026, lon=114.35,
                                 village_kode="99.01.02.2002", funding="bakti"))

    def names(**filters):
        return [s["name"] for s in list_sites(engine, SiteFilter(**filters))]

    assert names() == ["A", "B", "C"] or sorted(names()) == ["A", "B", "C"]
    assert names(agency="BAKTI") == ["B"]
    assert sorted(names(status=["Rencana", "usulan"])) == ["B", "C"]
    assert names(kind="BTS / menara") == ["C"]
    assert names(funding="APBN / BAKTI") == ["C"]
    assert sorted(names(year=2026, village_kode="99.01.02")) == ["B", "C"]
    assert names(village_kode="9901012001") == ["A"]
    assert names(bbox=(114.2, 0.0, 114.3, 0.1)) == ["B"]
    assert len(names(limit=2)) == 2 and count_sites(engine, SiteFilter(year=2026)) == 2
    with pytest.raises(InputError) as caught:
        list_sites(engine, SiteFilter(status="bingung"))
    assert caught.value.column == "status"


# --- concurrency ----------------------------------------------------------------------------

def test_twenty_clients_patching_with_one_etag_one_wins(engine):
    site, tag = create_site(engine, starlink())
    start = threading.Barrier(20)

    def client(i: int) -> str:
        start.wait()
        try:
            patch_site(engine, site["id"], {"notes": f"client {i}"}, tag, user=f"u{i}")
        except PreconditionFailed:
            return "412"
        return "ok"

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(client, range(20)))
    assert sorted(outcomes).count("ok") == 1 and outcomes.count("412") == 19
    final, final_tag = get_site(engine, site["id"])
    assert final_tag == f'"{site["id"]}-2"'
    winner = outcomes.index("ok")
    assert final["notes"] == f"client {winner}"
    assert [h["user"] for h in history(engine, site["id"])] == [None, f"u{winner}"]


def test_fifty_concurrent_creates_make_fifty_sites(engine):
    start = threading.Barrier(50)

    def client(i: int) -> str:
        start.wait()
        # half give their own name; the other half share one, so their ids are made unique
        name = f"Wifi {i}" if i % 2 else "Wifi kampung"
        return create_site(engine, starlink(name, kind="wifi"), user=f"u{i}", source="api")[0]["id"]

    with ThreadPoolExecutor(50) as pool:
        ids = list(pool.map(client, range(50)))
    assert len(set(ids)) == 50
    assert count_sites(engine) == 50
    assert all(history(engine, i)[0]["source"] == "api" for i in ids[:5])


# --- the sites layer moves in ----------------------------------------------------------------

def old_style_project(source: Project, dst) -> Project:
    """A copy of ``source`` built the old way: its sites in layers.gpkg, no register."""
    import pyogrio

    sites = source.read_layer("sites")
    shutil.copytree(source.path, dst, symlinks=True,
                    ignore=shutil.ignore_patterns("register.sqlite*"))
    project = Project(dst)
    layer = sites[[c for c in sites.columns if c not in
                   ("budget_idr", "realised_idr", "budget_year", "sipd_code")]]
    pyogrio.write_dataframe(layer, project.layers_path, layer="sites", driver="GPKG")
    return Project(dst)


@pytest.fixture
def sample_sites_project(sample_project, tmp_path):
    return old_style_project(sample_project, tmp_path / "project")


def test_the_sites_layer_moves_in_once_and_nothing_is_lost(sample_sites_project, engine):
    project = sample_sites_project
    layer = project.read_layer_file("sites")
    result = move_sites_layer(project, engine, user="migrasi")
    assert result == MoveResult(added=len(layer))
    moved = sites_layer(engine)
    a = layer.set_index("site_id").sort_index()
    b = moved.set_index("site_id").sort_index()
    pd.testing.assert_frame_equal(a.drop(columns="geometry"),
                                  b[a.columns].drop(columns="geometry"), check_dtype=False)
    assert a.geometry.geom_equals_exact(b.geometry, 1e-12).all()
    first = history(engine, layer["site_id"].iloc[0])
    assert [(h["user"], h["source"]) for h in first] == [("migrasi", "import")]
    # idempotent: a second first use adds nothing, and a deleted site stays deleted
    delete_site(engine, layer["site_id"].iloc[0])
    assert move_sites_layer(project, engine).already_moved
    assert count_sites(engine) == len(layer) - 1


def test_layer_values_the_register_refuses_are_kept_in_extra():
    import geopandas as gpd
    import shapely

    frame = gpd.GeoDataFrame(
        {"site_id": ["a"], "kind": ["starlink"], "name": ["A"], "status": ["installed"],
         "technology": ["LTE-A"], "village": ["Satu"], "year": [2024.0]},
        geometry=[shapely.Point(114.05, 0.05)], crs="EPSG:4326")
    rows, kept = layer_rows(frame)
    assert kept == 1
    assert rows[0]["technology"] is None and rows[0]["year"] == 2024
    assert rows[0]["extra"] == {"technology": "LTE-A", "village": "Satu"}
    frame.loc[0, "geometry"] = None
    with pytest.raises(InputError, match="without a point") as caught:
        layer_rows(frame)
    assert (caught.value.row, caught.value.column) == (1, "geometry")


def test_open_project_register_moves_the_layer_on_first_use(sample_sites_project):
    project = sample_sites_project
    engine = open_project_register(project)
    assert (project.path / "register.sqlite").is_file()
    assert count_sites(engine) == len(project.read_layer("sites"))
    engine.dispose()
    again = open_project_register(Project(project.path))
    assert count_sites(again) == len(project.read_layer("sites"))
    again.dispose()


def test_missing_postgresql_fails_under_ci_and_skips_elsewhere(monkeypatch):
    import pg

    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        pg._missing("no PostgreSQL here")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no PostgreSQL here"):
        pg._missing("no PostgreSQL here")


# --- users and API tokens -------------------------------------------------------------------

def test_users_passwords_and_tokens(engine):
    from geo_p2dd.registry import accounts

    admin = accounts.add_user(engine, "diskominfo", "admin", password="rahasia-sekali")
    accounts.add_user(engine, "dikbud", "editor", agency="Dinas Pendidikan")
    assert admin["role"] == "admin" and "password_hash" not in admin
    with pytest.raises(accounts.UserExistsError):
        accounts.add_user(engine, "diskominfo", "viewer")
    for kwargs, column in [({"role": "boss"}, "role"), ({"role": "editor"}, "agency"),
                           ({"role": "viewer", "password": "short"}, "password")]:
        with pytest.raises(InputError) as caught:
            accounts.add_user(engine, "baru", **kwargs)
        assert caught.value.column == column
    assert [u["name"] for u in accounts.list_users(engine)] == ["dikbud", "diskominfo"]
    assert accounts.authenticate(engine, "diskominfo", "rahasia-sekali")["name"] == "diskominfo"
    assert accounts.authenticate(engine, "diskominfo", "salah-salah") is None
    assert accounts.authenticate(engine, "dikbud", "apa-saja-boleh") is None  # no password
    assert accounts.authenticate(engine, "siapa", "rahasia-sekali") is None
    token = accounts.new_token(engine, "diskominfo")
    assert accounts.user_for_token(engine, token)["name"] == "diskominfo"
    assert accounts.user_for_token(engine, token + "x") is None
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT token_sha256 FROM api_tokens")).scalars().all()
        hashes = conn.execute(text("SELECT password_hash FROM users")).scalars().all()
    assert stored == [accounts.token_digest(token)] and token not in stored
    assert all(h is None or h.startswith("$argon2id$") for h in hashes)
    accounts.disable_user(engine, "diskominfo")
    assert accounts.user_for_token(engine, token) is None
    assert accounts.authenticate(engine, "diskominfo", "rahasia-sekali") is None
    with pytest.raises(NotFoundError):
        accounts.disable_user(engine, "siapa")


# --- first use by several processes or threads at once ------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path):
    """The URL of a database nobody has migrated yet."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'register.sqlite'}"
    cluster = request.getfixturevalue("pg_cluster")
    name = f"fresh_{tmp_path.name[-20:].replace('-', '_').lower()}"
    cluster.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    cluster.execute(f"CREATE DATABASE {name}")
    return cluster.url(name)


def test_eight_first_uses_at_once_migrate_once(fresh_url):
    start = threading.Barrier(8)

    def first_use(_):
        start.wait()
        engine = db.open_database(url=fresh_url)
        revision = db.current_revision(engine)
        engine.dispose()
        return revision

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(first_use, range(8))) == {db.head_revision()}


def test_four_first_uses_of_a_project_move_its_sites_once(sample_sites_project, engine):
    project = sample_sites_project
    start = threading.Barrier(4)

    def first_use(_):
        start.wait()
        return move_sites_layer(project, engine)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(first_use, range(4)))
    n = len(project.read_layer_file("sites"))
    assert sorted(r.added for r in results) == [0, 0, 0, n]
    assert sum(r.already_moved for r in results) == 3
    assert count_sites(engine) == n


# --- a rename and a change of the same site in one strict (previewed) import ---------------

def test_a_strict_import_renames_a_site_and_changes_it_in_one_commit(engine):
    """A sheet that moves a site to its new id and changes a field commits once (the
    update is checked at the version the rename left, not the one the preview saw)."""
    import geopandas as gpd
    from shapely.geometry import Point

    from geo_p2dd.registry.db import write_transaction
    from geo_p2dd.registry.sync import apply_plan, plan_sites

    site, _ = create_site(engine, {"kind": "starlink", "name": "SD A", "status": "installed",
                                   "lon": 114.05, "lat": 0.05, "agency": "Diskominfo"})
    frame = gpd.GeoDataFrame({"site_id": ["new-id"], "kind": ["starlink"], "name": ["SD A"],
                              "status": ["installed"], "agency": ["Dinas Pendidikan"]},
                             geometry=[Point(114.05, 0.05)], crs="EPSG:4326")
    with write_transaction(engine) as conn:
        plan = plan_sites(conn, frame, renames={site["id"]: "new-id"}, delete_missing=False)
    assert plan.renames and plan.updates
    with write_transaction(engine) as conn:
        apply_plan(conn, plan, user="ana", source="import", strict=True)
    moved, _etag = get_site(engine, "new-id")
    assert moved["agency"] == "Dinas Pendidikan"
    with pytest.raises(NotFoundError):
        get_site(engine, site["id"])


def test_create_sites_adds_all_or_none_with_free_ids(engine):
    from geo_p2dd.registry.repository import create_sites, list_sites

    site = {"kind": "starlink", "name": "SD A", "status": "proposed", "lon": 114.05,
            "lat": 0.05, "agency": "Diskominfo"}
    with pytest.raises(InputError) as bad:
        create_sites(engine, [site, {**site, "status": "maybe"}], user="eka", source="plan")
    assert bad.value.column == "status" and list_sites(engine) == []
    made = create_sites(engine, [site, site], user="eka", source="plan")
    assert [m["id"] for m in made] == [made[0]["id"], made[0]["id"] + "-2"]
    assert len(list_sites(engine)) == 2


def test_passwords_are_hashed_at_the_default_argon2_cost_unless_set():
    """Without GEO_P2DD_ARGON2 a password is hashed at argon2-cffi's default (RFC 9106,
    64 MiB); a cost below OWASP's minimum is refused naming the variable; a hash made at
    one cost verifies under another (the suite runs at the minimum)."""
    import os
    import subprocess
    import sys

    from argon2 import PasswordHasher

    from geo_p2dd.registry import accounts

    env = {k: v for k, v in os.environ.items() if k != accounts.ARGON2_ENV}
    out = subprocess.run(
        [sys.executable, "-c", "from geo_p2dd.registry import accounts; "
         "print(accounts.hash_password('rahasia-sekali'))"],
        env=env, capture_output=True, text=True, check=True).stdout
    assert out.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert accounts.argon2_cost(None) == accounts.ARGON2_DEFAULT == (3, 65536, 4)
    assert accounts.argon2_cost("2,19456,1") == (2, 19456, 1)
    for bad in ("1,19456,1", "2,1024,1", "2,19456", "dua,19456,1"):
        with pytest.raises(InputError) as err:
            accounts.argon2_cost(bad)
        assert "GEO_P2DD_ARGON2" in str(err.value) and repr(bad) in str(err.value)
    stored = PasswordHasher().hash("rahasia-sekali")  # the default cost
    assert accounts.verify_password(stored, "rahasia-sekali")
    assert not accounts.verify_password(stored, "rahasia-salah")


def test_an_analysis_without_a_register_loads_no_sqlalchemy(sample_copy):
    """A project without a register (a national analysis, a report) never imports
    SQLAlchemy or Alembic (~0.4 s of every such command); one with a register does."""
    import os
    import subprocess
    import sys

    code = ("import sys\nfrom geo_p2dd.cli import main\n"
            "try:\n    main(['analyze', '--project', sys.argv[1]], prog_name='geo-p2dd')\n"
            "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "print('loaded', sorted(m for m in ('sqlalchemy', 'alembic') if m in sys.modules))")
    env = {k: v for k, v in os.environ.items() if k != "GEO_P2DD_DATABASE_URL"}

    def loaded() -> str:
        result = subprocess.run([sys.executable, "-c", code, str(sample_copy.path)], env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout.strip().splitlines()[-1]

    assert loaded() == "loaded ['alembic', 'sqlalchemy']"  # the sample's register
    for name in ("register.sqlite", "register.sqlite-wal", "register.sqlite-shm"):
        (sample_copy.path / name).unlink(missing_ok=True)
    assert "sites" not in sample_copy.layer_names()  # its sites were in the register only
    assert loaded() == "loaded []"
