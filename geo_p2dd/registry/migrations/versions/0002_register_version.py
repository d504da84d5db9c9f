"""The register's version: one counter raised by every change of a site.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

``register_version.n`` is raised in the same transaction as each change's
history row, so the project's ``data_version`` (and with it the analysis'
staleness and every cache keyed on it) moves whenever the register changes.
Moving a project's sites layer in does not raise it: the data are the same.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "register_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_register_version_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_register_version")),
    )
    op.bulk_insert(table, [{"id": 1, "n": 0}])


def downgrade() -> None:
    op.drop_table("register_version")
