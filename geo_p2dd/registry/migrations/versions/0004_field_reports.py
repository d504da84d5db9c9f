"""Field reports: signal reports made on phones, verified or rejected by reviewers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "field_reports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("village_kode", sa.String(length=13), nullable=True),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("operator", sa.Text(), nullable=True),
        sa.Column("technology", sa.String(length=4), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reporter", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_by", sa.String(length=100), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('submitted', 'verified', 'rejected')",
                           name=op.f("ck_field_reports_status_known")),
        sa.CheckConstraint("technology IN ('none', '2G', '3G', '4G', '5G')",
                           name=op.f("ck_field_reports_technology_known")),
        sa.CheckConstraint("lon BETWEEN -180 AND 180 AND lat BETWEEN -90 AND 90",
                           name=op.f("ck_field_reports_lonlat_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_field_reports")),
    )
    op.create_index(op.f("ix_field_reports_village_kode"), "field_reports", ["village_kode"])
    op.create_index(op.f("ix_field_reports_reporter"), "field_reports", ["reporter"])


def downgrade() -> None:
    op.drop_table("field_reports")
