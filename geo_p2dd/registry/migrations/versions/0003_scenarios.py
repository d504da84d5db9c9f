"""Planning scenarios: named sets of hypothetical sites (never part of the register).

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scenarios",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scenarios")),
    )
    op.create_index(op.f("ix_scenarios_owner"), "scenarios", ["owner"])
    op.create_table(
        "scenario_sites",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scenario_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("technology", sa.String(length=4), nullable=True),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("height_m", sa.Float(), nullable=True),
        sa.Column("power_dbm", sa.Float(), nullable=True),
        sa.Column("frequency_mhz", sa.Float(), nullable=True),
        sa.Column("service_radius_m", sa.Float(), nullable=True),
        sa.CheckConstraint("kind IN ('starlink', 'vsat', 'bts', 'wifi')",
                           name=op.f("ck_scenario_sites_kind_known")),
        sa.CheckConstraint("lon BETWEEN -180 AND 180 AND lat BETWEEN -90 AND 90",
                           name=op.f("ck_scenario_sites_lonlat_range")),
        sa.ForeignKeyConstraint(["scenario_id"], ["scenarios.id"],
                                name=op.f("fk_scenario_sites_scenario_id_scenarios"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scenario_sites")),
    )
    op.create_index(op.f("ix_scenario_sites_scenario_id"), "scenario_sites", ["scenario_id"])


def downgrade() -> None:
    op.drop_table("scenario_sites")
    op.drop_table("scenarios")
