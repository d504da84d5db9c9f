"""The register's tables (SQLAlchemy 2 declarative models).

The same models serve SQLite and PostgreSQL. On PostgreSQL the migration adds
``sites.geom``, a PostGIS ``geometry(Point, 4326)`` generated from ``lon`` and
``lat`` (so it can never disagree with them) with a GiST index, for GIS tools
such as QGIS that open the register straight from the database; the models do
not map it, so the library code is the same on both databases.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: roles of users, from most to least powerful
ROLES = ("admin", "editor", "reviewer", "viewer")
#: where a change came from
SOURCES = ("web", "import", "api", "cli", "plan")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (migrations refer to them)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON}


class Site(Base):
    """One register record: a Starlink terminal, BTS, VSAT, fibre node or public Wi-Fi."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    village_kode: Mapped[str | None] = mapped_column(String(13), index=True)
    agency: Mapped[str | None] = mapped_column(Text, index=True)
    funding: Mapped[str | None] = mapped_column(String(20))
    year: Mapped[int | None] = mapped_column(Integer)
    operator: Mapped[str | None] = mapped_column(Text)
    technology: Mapped[str | None] = mapped_column(String(4))
    capacity_mbps: Mapped[float | None] = mapped_column(Float)
    service_radius_m: Mapped[float | None] = mapped_column(Float)
    height_m: Mapped[float | None] = mapped_column(Float)
    frequency_mhz: Mapped[float | None] = mapped_column(Float)
    power_dbm: Mapped[float | None] = mapped_column(Float)
    notes: Mapped[str | None] = mapped_column(Text)
    budget_idr: Mapped[int | None] = mapped_column(BigInteger)
    realised_idr: Mapped[int | None] = mapped_column(BigInteger)
    budget_year: Mapped[int | None] = mapped_column(Integer)
    sipd_code: Mapped[str | None] = mapped_column(String(40))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    #: columns of an imported layer that the register has no column for (nothing is lost)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("lon BETWEEN -180 AND 180 AND lat BETWEEN -90 AND 90",
                        name="lonlat_range"),
        Index("ix_sites_status_year", "status", "year"),
    )


class User(Base):
    """A person who signs in: Diskominfo admins, agency editors, reviewers, viewers."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(10))
    agency: Mapped[str | None] = mapped_column(Text)
    password_hash: Mapped[str | None] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role_known"),)


class ApiToken(Base):
    """An API token: only the SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class History(Base):
    """One change of one site: who, when, from where, and each field's old and new value."""

    __tablename__ = "history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    user: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(10))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: the import the change came from (see :class:`Import`)
    import_id: Mapped[str | None] = mapped_column(String(32), index=True)
    #: a status change: the day it took effect (may be before ``at``) and its note
    status_date: Mapped[dt.date | None] = mapped_column(Date)
    status_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(_in("source", SOURCES), name="source_known"),
        Index("ix_history_site_id_at", "site_id", "at"),
        Index("ix_history_at", "at"),
    )


class RegisterVersion(Base):
    """One row: a counter raised in the transaction of every change of a site."""

    __tablename__ = "register_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)


class Meta(Base):
    """Key/value facts about the database itself (e.g. when the sites layer moved in)."""

    __tablename__ = "registry_meta"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)


#: site kinds a scenario may hold (those a plan may add; see geo_p2dd.planning.costs)
SCENARIO_KINDS = ("starlink", "vsat", "bts", "wifi")


class Scenario(Base):
    """A named set of hypothetical sites owned by a user: never part of the register."""

    __tablename__ = "scenarios"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(100), index=True)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ScenarioSite(Base):
    """One hypothetical site of a scenario."""

    __tablename__ = "scenario_sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id", ondelete="CASCADE"),
                                             index=True)
    kind: Mapped[str] = mapped_column(String(20))
    technology: Mapped[str | None] = mapped_column(String(4))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    height_m: Mapped[float | None] = mapped_column(Float)
    power_dbm: Mapped[float | None] = mapped_column(Float)
    frequency_mhz: Mapped[float | None] = mapped_column(Float)
    service_radius_m: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        CheckConstraint(_in("kind", SCENARIO_KINDS), name="kind_known"),
        CheckConstraint("lon BETWEEN -180 AND 180 AND lat BETWEEN -90 AND 90",
                        name="lonlat_range"),
    )


#: what became of a field report
REPORT_STATUSES = ("submitted", "verified", "rejected")
#: what a field report saw (the ids of geo_p2dd.schema.TECHNOLOGY_SEEN)
REPORT_TECHNOLOGIES = ("none", "2G", "3G", "4G", "5G")


class FieldReport(Base):
    """A signal report made in the field; its id is a UUID made on the phone."""

    __tablename__ = "field_reports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    village_kode: Mapped[str | None] = mapped_column(String(13), index=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    operator: Mapped[str | None] = mapped_column(Text)
    technology: Mapped[str] = mapped_column(String(4))
    observed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
    reporter: Mapped[str] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(10), default="submitted")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(_in("status", REPORT_STATUSES), name="status_known"),
        CheckConstraint(_in("technology", REPORT_TECHNOLOGIES), name="technology_known"),
        CheckConstraint("lon BETWEEN -180 AND 180 AND lat BETWEEN -90 AND 90",
                        name="lonlat_range"),
    )


#: what became of an uploaded sheet
IMPORT_STATUSES = ("previewed", "committed", "verified", "rejected")


class Import(Base):
    """An agency's uploaded sheet: its preview, its commit and its review."""

    __tablename__ = "imports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user: Mapped[str] = mapped_column(String(100))
    agency: Mapped[str | None] = mapped_column(Text)
    file: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    register_version: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10), index=True)
    rows: Mapped[int] = mapped_column(Integer)
    added: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    #: the preview: site ids per outcome, rejected rows and the planned row changes
    preview: Mapped[dict[str, Any]] = mapped_column(JSON)
    committed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reviewer: Mapped[str | None] = mapped_column(String(100))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    review_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (CheckConstraint(_in("status", IMPORT_STATUSES), name="status_known"),)


class AuditEvent(Base):
    """A change of something other than a site (an import committed or reviewed, ...)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    user: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(10))
    object_kind: Mapped[str] = mapped_column(String(20))
    object_id: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
