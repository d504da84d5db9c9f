"""The register: sites (with a PostGIS point on PostgreSQL), users, API tokens, history.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "registry_meta",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_registry_meta")),
    )
    op.create_table(
        "sites",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("village_kode", sa.String(length=13), nullable=True),
        sa.Column("agency", sa.Text(), nullable=True),
        sa.Column("funding", sa.String(length=20), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("operator", sa.Text(), nullable=True),
        sa.Column("technology", sa.String(length=4), nullable=True),
        sa.Column("capacity_mbps", sa.Float(), nullable=True),
        sa.Column("service_radius_m", sa.Float(), nullable=True),
        sa.Column("height_m", sa.Float(), nullable=True),
        sa.Column("frequency_mhz", sa.Float(), nullable=True),
        sa.Column("power_dbm", sa.Float(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("budget_idr", sa.BigInteger(), nullable=True),
        sa.Column("realised_idr", sa.BigInteger(), nullable=True),
        sa.Column("budget_year", sa.Integer(), nullable=True),
        sa.Column("sipd_code", sa.String(length=40), nullable=True),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.Column("deleted_at", _TZ, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("lon BETWEEN -180 AND 180 AND lat BETWEEN -90 AND 90",
                           name=op.f("ck_sites_lonlat_range")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_sites_version_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
    )
    op.create_index(op.f("ix_sites_agency"), "sites", ["agency"])
    op.create_index("ix_sites_status_year", "sites", ["status", "year"])
    op.create_index(op.f("ix_sites_village_kode"), "sites", ["village_kode"])
    if op.get_bind().dialect.name == "postgresql":
        # a point QGIS can open, always equal to lon/lat (generated), with a spatial index
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        op.execute("ALTER TABLE sites ADD COLUMN geom geometry(Point, 4326) GENERATED ALWAYS "
                   "AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED")
        op.execute("CREATE INDEX ix_sites_geom ON sites USING GIST (geom)")

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("agency", sa.Text(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.CheckConstraint("role IN ('admin', 'editor', 'reviewer', 'viewer')",
                           name=op.f("ck_users_role_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_tokens_token_sha256")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"])
    op.create_table(
        "history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(length=200), nullable=False),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("user", sa.String(length=100), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.CheckConstraint("source IN ('web', 'import', 'api', 'cli')",
                           name=op.f("ck_history_source_known")),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"],
                                name=op.f("fk_history_site_id_sites"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_history")),
    )
    op.create_index("ix_history_site_id_at", "history", ["site_id", "at"])


def downgrade() -> None:
    op.drop_table("history")
    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_table("sites")
    op.drop_table("registry_meta")
