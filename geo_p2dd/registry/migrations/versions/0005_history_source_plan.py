"""A change may come from a plan: ``history.source`` also allows ``plan``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

Sites proposed from a plan (``POST /api/plans/<id>/propose``) are created
through the register's own create path; their history says ``plan`` and the
planner. Only the check constraint on ``history.source`` changes.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_NEW = "source IN ('web', 'import', 'api', 'cli', 'plan')"
_OLD = "source IN ('web', 'import', 'api', 'cli')"


def _replace(condition: str) -> None:
    with op.batch_alter_table("history") as batch:
        batch.drop_constraint(op.f("ck_history_source_known"), type_="check")
        batch.create_check_constraint(op.f("ck_history_source_known"), condition)


def upgrade() -> None:
    _replace(_NEW)


def downgrade() -> None:
    op.execute("DELETE FROM history WHERE source = 'plan'")
    _replace(_OLD)
