"""An agency's sheet uploaded to the register: preview first, then commit exactly that.

:func:`preview_import` reads the file with the importer's checks (each bad row
rejected with its sheet row, column, what was expected and what was found),
merges it into the register as it is now and says what would be added,
updated or left unchanged — storing nothing. :func:`commit_import` applies
that preview in ONE database transaction (history source ``import``, the
given user): if any site it touches changed since the preview, or one of its
new sites appeared meanwhile, nothing is applied and
:class:`~geo_p2dd.registry.sync.RegisterChangedError` (HTTP 409) is raised.
:func:`rejected_rows_xlsx` writes the rejected rows, with a reason column, for
the agency to correct (formula-safe cells).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geo_p2dd.errors import RowProblem
from geo_p2dd.project import Project
from geo_p2dd.registry.db import write_transaction
from geo_p2dd.registry.store import project_register
from geo_p2dd.registry.sync import Plan, apply_plan, preview_plan


@dataclass(frozen=True)
class RejectedRow:
    """One row of the sheet the register refuses, and why."""

    file: str
    row: int | str
    column: str | None
    reason: str
    expected: str | None = None
    found: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "reason": self.reason,
                "expected": self.expected, "found": self.found}


@dataclass
class ImportPreview:
    """What committing a sheet would do (nothing is stored by making it).

    Attributes
    ----------
    file : str
        The file's name (never a server path).
    rows : int
        Rows read.
    added, updated, unchanged : list of str
        Site ids the sheet would create, change, or leaves as they are.
    rejected : list of RejectedRow
    plan : Plan
        The row operations :func:`commit_import` applies.
    agencies : list of str
        The agencies the sheet's usable rows name.
    """

    file: str
    rows: int
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    plan: Plan = field(default_factory=Plan)
    agencies: list[str] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        """Everything of the preview as JSON-ready values (stored by
        :mod:`geo_p2dd.registry.uploads`; :meth:`from_record` reads it back)."""
        plan = self.plan
        return _json_ready({
            "file": self.file, "rows": self.rows, "added": self.added,
            "updated": self.updated, "unchanged": self.unchanged,
            "agencies": self.agencies,
            "rejected": [{"file": r.file, "row": r.row, "column": r.column,
                          "reason": r.reason, "expected": r.expected, "found": r.found}
                         for r in self.rejected],
            "plan": {"creates": plan.creates, "updates": [list(u) for u in plan.updates],
                     "renames": [list(r) for r in plan.renames],
                     "deletes": [list(d) for d in plan.deletes],
                     "unchanged": plan.unchanged}})

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ImportPreview:
        """The preview :meth:`to_record` stored."""
        plan = record["plan"]
        return cls(
            file=record["file"], rows=record["rows"], added=list(record["added"]),
            updated=list(record["updated"]), unchanged=list(record["unchanged"]),
            agencies=list(record.get("agencies", [])),
            rejected=[RejectedRow(**r) for r in record["rejected"]],
            plan=Plan(creates=[dict(c) for c in plan["creates"]],
                      updates=[(i, int(v), dict(c)) for i, v, c in plan["updates"]],
                      renames=[(o, n, int(v)) for o, n, v in plan["renames"]],
                      deletes=[(i, int(v)) for i, v in plan["deletes"]],
                      unchanged=int(plan["unchanged"])))

    def to_dict(self) -> dict[str, Any]:
        """The preview as the JSON API shows it."""
        return {"file": self.file, "rows": self.rows, "added": len(self.added),
                "updated": len(self.updated), "unchanged": len(self.unchanged),
                "rejected": [r.to_dict() for r in self.rejected]}


def _json_ready(value: Any) -> Any:
    """``value`` with numpy numbers as Python numbers, NaN as None, times as ISO text."""
    import datetime as dt
    import math

    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return None if math.isnan(value) else float(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return _json_ready(item())
    return str(value)


def _rejected(file: str, problem: RowProblem) -> RejectedRow:
    return RejectedRow(file, problem.row, problem.column, problem.reason)


def preview_import(project: Project, file: str | Path, *, layer: str | None = None,
                   lon: str | None = None, lat: str | None = None) -> ImportPreview:
    """Read an agency's sites sheet and say what it would change in the register.

    Parameters
    ----------
    project : Project
    file : str or Path
        A CSV, XLSX or vector file of sites.
    layer, lon, lat : str, optional
        The sheet or layer to read; the coordinate columns (else found by name).

    Raises
    ------
    InputError
        The file cannot be read, or no row of it is usable.
    """
    from geo_p2dd.imports import read_points

    path = Path(file)
    engine = project_register(project)
    read = read_points("sites", path, existing=project.read_layer("sites", required=False),
                       villages=project.read_layer("villages"),
                       settlements=lambda: _main_settlements(project),
                       layer=layer, lon=lon, lat=lat)
    plan = preview_plan(engine, read.merged, renames=read.renames)
    file_ids = set(read.file_ids)  # as matched to the register (older ids recognised)
    changed = {site_id for site_id, _, _ in plan.updates} | {new for _, new, _ in plan.renames}
    created = {row["id"] for row in plan.creates}
    # only the sheet's own rows: an import never deletes what the sheet does not mention
    plan.deletes = []
    layer = read.result.layer
    agencies = sorted({str(a).strip() for a in layer["agency"] if isinstance(a, str)
                       and a.strip()}) if "agency" in layer.columns else []
    return ImportPreview(
        file=path.name, rows=read.rows,
        added=sorted(created & file_ids), updated=sorted(changed & file_ids),
        unchanged=sorted(file_ids - created - changed),
        rejected=[_rejected(path.name, p) for p in read.result.rejected], plan=plan,
        agencies=agencies)


def commit_import(project: Project, preview: ImportPreview, user: str | None, *,
                  source: str = "import") -> None:
    """Apply ``preview`` in one database transaction: all of it, or nothing.

    Raises
    ------
    RegisterChangedError
        A site of the preview changed (or appeared) since it was made.
    """
    engine = project_register(project)
    with write_transaction(engine) as conn:
        apply_plan(conn, preview.plan, user=user, source=source, strict=True)


def rejected_rows_xlsx(preview: ImportPreview, path: str | Path, lang: str = "id") -> Path:
    """Write the rejected rows (file, row, column, reason) as an XLSX workbook.

    Cells are formula-safe (:mod:`geo_p2dd.io.cells`): a reason quoting a
    value such as ``=HYPERLINK(...)`` stays text.
    """
    from openpyxl import Workbook

    from geo_p2dd.i18n import gettext
    from geo_p2dd.io.atomic import atomic_path
    from geo_p2dd.io.cells import xlsx_cell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(gettext("Rejected rows", lang)[:31])
    for column, width in zip("ABCD", (30, 8, 24, 90), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    sheet.append([gettext(h, lang) for h in ("File", "Row", "Column", "Reason")])
    for r in preview.rejected:
        sheet.append([xlsx_cell(sheet, v) for v in (r.file, r.row, r.column or "", r.reason)])
    path = Path(path)
    with atomic_path(path) as tmp:
        workbook.save(tmp)
    return path


def _main_settlements(project: Project):
    """Where rows without coordinates go: the analysis's main settlements."""
    from geo_p2dd.locations import project_main_settlements

    return project_main_settlements(project)
