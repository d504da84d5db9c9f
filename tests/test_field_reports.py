"""Field reports: stored once by their phone-made UUID, reviewed; SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from pg import pg_cluster, pg_url  # noqa: F401 - the PostgreSQL fixtures
from sqlalchemy import text

from geo_p2dd.errors import InputError, NotFoundError
from geo_p2dd.registry import db
from geo_p2dd.registry.field_reports import (
    list_reports,
    reject_report,
    store_report,
    verify_report,
)

TABLES = "field_reports, history, api_tokens, users, sites, registry_meta"


@pytest.fixture(autouse=True)
def _no_database_url(monkeypatch):
    monkeypatch.delenv(db.URL_VARIABLE, raising=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    """An empty, migrated register on SQLite or a real PostgreSQL."""
    if request.param == "sqlite":
        (tmp_path / "register").mkdir()
        engine = db.open_database(tmp_path / "register")
    else:
        engine = db.open_database(url=request.getfixturevalue("pg_url"))
        with db.write_transaction(engine) as conn:
            conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    yield engine
    engine.dispose()


def report(**extra) -> dict:
    return {"id": str(uuid.uuid4()), "village_kode": "6411012001", "lon": 114.05, "lat": 0.05,
            "operator": "Telkomsel", "technology": "lte",
            "observed_at": "2026-11-20T08:30:00+08:00",
            "note": "sinyal hilang di dermaga", **extra}


def test_a_report_is_stored_with_its_fields_normalised(engine):
    stored, created = store_report(engine, report(), "budi")
    assert created
    assert stored["village_kode"] == "64.11.01.2001"
    assert stored["technology"] == "4G"
    assert stored["status"] == "submitted"
    assert stored["reporter"] == "budi"
    assert stored["observed_at"] == "2026-11-20T00:30:00+00:00"
    assert stored["reviewed_by"] is None


def test_a_report_sent_twice_is_stored_once_and_unchanged(engine):
    first = report()
    stored, created = store_report(engine, first, "budi")
    again, created_again = store_report(engine, {**first, "note": "changed"}, "budi")
    assert created and not created_again
    assert again == stored
    assert len(list_reports(engine)) == 1


@pytest.mark.parametrize(("field", "value"), [
    ("id", "not-a-uuid"), ("lon", "x"), ("lat", 95), ("technology", "6G"),
    ("observed_at", "kemarin"), ("observed_at", "2999-01-01"), ("village_kode", "64.11"),
    ("note", "x" * 3000),
])
def test_a_bad_field_is_named(engine, field, value):
    with pytest.raises(InputError) as err:
        store_report(engine, report(**{field: value}), "budi")
    assert err.value.column == field
    assert list_reports(engine) == []


def test_reviewers_verify_and_reject(engine):
    a, _ = store_report(engine, report(), "budi")
    b, _ = store_report(engine, report(technology="none", observed_at="2026-11-21"), "sari")
    verified = verify_report(engine, a["id"], "rina")
    assert verified["status"] == "verified" and verified["reviewed_by"] == "rina"
    assert verified["reviewed_at"] is not None
    assert reject_report(engine, b["id"], "rina")["status"] == "rejected"
    assert [r["id"] for r in list_reports(engine, status="verified")] == [a["id"]]
    assert [r["id"] for r in list_reports(engine, reporter="sari")] == [b["id"]]
    assert [r["id"] for r in list_reports(engine)] == [b["id"], a["id"]]
    with pytest.raises(NotFoundError):
        verify_report(engine, str(uuid.uuid4()), "rina")
    with pytest.raises(InputError):
        list_reports(engine, status="lost")
