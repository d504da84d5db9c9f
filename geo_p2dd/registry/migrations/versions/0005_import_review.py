"""Agency imports kept in the database, their review, an audit log, dated status changes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

- ``imports``: an uploaded sheet's preview (who, when, file, kind, the planned
  row changes, the register version it was made against) and what became of
  it: previewed → committed → verified or rejected (reviewer, time, note).
  Any app instance on the database commits it; unapplied previews expire.
- ``audit_events``: changes of things other than sites (imports committed and
  reviewed, ...), shown with the sites' history in the admins' audit log.
- ``history.import_id``: the import a site change came from (the register
  marks sites of imports not yet verified); ``history.status_date`` and
  ``history.status_note``: the date a status change took effect and its note;
  ``history.source`` may also be ``plan``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OLD_SOURCES = ("web", "import", "api", "cli")
#: a change may also come from a plan (its sites added to the register)
NEW_SOURCES = (*OLD_SOURCES, "plan")


def _sources(values: tuple[str, ...]) -> str:
    return f"source IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user", sa.String(length=100), nullable=False),
        sa.Column("agency", sa.Text(), nullable=True),
        sa.Column("file", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("register_version", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("preview", sa.JSON(), nullable=False),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewer", sa.String(length=100), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('previewed', 'committed', 'verified', 'rejected')",
                           name=op.f("ck_imports_status_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
    )
    op.create_index(op.f("ix_imports_status"), "imports", ["status"])
    op.create_index(op.f("ix_imports_created_at"), "imports", ["created_at"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user", sa.String(length=100), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("object_kind", sa.String(length=20), nullable=False),
        sa.Column("object_id", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_at"), "audit_events", ["at"])
    with op.batch_alter_table("history") as batch:  # SQLite: the table is copied
        batch.add_column(sa.Column("import_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("status_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("status_note", sa.Text(), nullable=True))
        batch.drop_constraint(op.f("ck_history_source_known"), type_="check")
        batch.create_check_constraint(op.f("ck_history_source_known"),
                                      _sources(NEW_SOURCES))
    op.create_index(op.f("ix_history_import_id"), "history", ["import_id"])
    op.create_index(op.f("ix_history_at"), "history", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_history_at"), table_name="history")
    op.drop_index(op.f("ix_history_import_id"), table_name="history")
    with op.batch_alter_table("history") as batch:
        batch.drop_constraint(op.f("ck_history_source_known"), type_="check")
        batch.create_check_constraint(op.f("ck_history_source_known"),
                                      _sources(OLD_SOURCES))
        batch.drop_column("status_note")
        batch.drop_column("status_date")
        batch.drop_column("import_id")
    op.drop_table("audit_events")
    op.drop_table("imports")
