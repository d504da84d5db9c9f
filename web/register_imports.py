"""An agency's sheet uploaded to the register: preview first, then commit exactly that preview.

Thin views over :mod:`geo_p2dd.registry.importing`.

- ``POST /api/imports`` (multipart ``file``; optional ``kind``, only ``sites``)
  → ``{"id", "file", "rows", "added", "updated", "unchanged", "rejected":
  [{"row", "column", "reason", ...}]}``. Nothing in the register changes.
- ``POST /api/imports/<id>/commit`` applies exactly that preview in one
  database transaction → ``{"id", "added", "updated", "unchanged"}``; 409 (nothing
  applied) when a site it touches changed, or one of its new sites appeared,
  since the preview. A preview is committed once.
- ``GET /register/upload`` / ``POST /register/upload`` / ``POST
  /register/upload/<id>/commit`` — the same as pages (CSRF-protected forms);
  ``GET /register/upload/<id>/rejected.xlsx`` the rejected rows with a reason
  column (formula-safe cells).

**Agencies.** An ``admin`` imports rows of any agency. An ``editor`` may only
import rows of their own agency: a sheet that would add or change a site of
another agency (or move one to another agency) is refused as a whole with 403
naming those sites and agencies, before anything is kept — the agency corrects
the sheet rather than have rows silently dropped.

**Previews** are kept in this process's memory for :data:`PREVIEW_TTL_S`
seconds, per user: only the user who made one sees or commits it (another
user gets 404). The uploaded file is written to a private temporary directory
for reading and removed right after; no server path appears in a response.
"""

from __future__ import annotations

import io
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import Conflict, Forbidden, NotFound, RequestEntityTooLarge
from werkzeug.utils import secure_filename

from geo_p2dd.errors import InputError, NotFoundError
from geo_p2dd.project import Project
from geo_p2dd.registry import repository as repo
from geo_p2dd.registry.importing import (
    ImportPreview,
    commit_import,
    preview_import,
    rejected_rows_xlsx,
)
from geo_p2dd.registry.sync import RegisterChangedError
from web.auth import WRITERS, _same_agency, register_engine, require

bp = Blueprint("register_imports", __name__)

#: seconds a preview waits for its commit
PREVIEW_TTL_S = 30 * 60
#: previews kept per user (the oldest goes first)
MAX_PREVIEWS_PER_USER = 5
KINDS = ("sites",)
SUFFIXES = (".csv", ".xlsx", ".xls", ".gpkg", ".geojson", ".json", ".zip", ".kml")
#: the largest upload read (bytes); larger is 413
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: sites named in a 403 before "and N more"
NAMED_MAX = 10


@dataclass
class Kept:
    """A preview waiting for its commit."""

    user: str
    made: float
    preview: ImportPreview


class Previews:
    """Previews by id, per user, with expiry (in-process, thread-safe)."""

    def __init__(self, ttl_s: float = PREVIEW_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._kept: dict[str, Kept] = {}
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        for key in [k for k, v in self._kept.items() if now - v.made > self.ttl_s]:
            del self._kept[key]

    def add(self, user: str, preview: ImportPreview) -> str:
        """Keep ``preview`` for ``user``; its id."""
        now = time.monotonic()
        key = secrets.token_urlsafe(12)
        with self._lock:
            self._expire(now)
            own = sorted((v.made, k) for k, v in self._kept.items() if v.user == user)
            for _made, old in own[:max(0, len(own) - MAX_PREVIEWS_PER_USER + 1)]:
                del self._kept[old]
            self._kept[key] = Kept(user, now, preview)
        return key

    def get(self, user: str, key: str) -> ImportPreview:
        """The preview ``key`` of ``user`` (404 when unknown, expired or another's)."""
        with self._lock:
            self._expire(time.monotonic())
            kept = self._kept.get(key)
        if kept is None or kept.user != user:
            raise NotFound(_("This import preview does not exist or has expired; upload the "
                             "file again."))
        return kept.preview

    def pop(self, user: str, key: str) -> None:
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept.user == user:
                del self._kept[key]


def previews() -> Previews:
    """The app's preview store."""
    store = current_app.extensions.get("geo_p2dd.import_previews")
    if store is None:
        store = current_app.extensions.setdefault("geo_p2dd.import_previews", Previews(
            current_app.config.get("IMPORT_PREVIEW_TTL_S", PREVIEW_TTL_S)))
    return store


def _project() -> Project:
    return Project(current_app.config["PROJECT"])


def _preview_upload() -> ImportPreview:
    """Read the uploaded ``file`` from a private temporary directory, removed afterwards."""
    kind = request.form.get("kind") or "sites"
    if kind not in KINDS:
        raise InputError(_("Only sites can be imported here."), column="kind",
                         expected=" / ".join(KINDS), found=repr(kind[:40]))
    limit = current_app.config.get("IMPORT_MAX_BYTES", MAX_UPLOAD_BYTES)
    if (request.content_length or 0) > limit:
        raise RequestEntityTooLarge(_("The file is larger than %(mb)s MB.",
                                      mb=round(limit / 1024 / 1024)))
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InputError(_("Choose a file to upload."), column="file",
                         expected="a CSV, XLSX or vector file", found="nothing")
    name = secure_filename(upload.filename) or "upload.csv"
    if not name.lower().endswith(SUFFIXES):
        raise InputError(_("This kind of file cannot be imported."), column="file",
                         expected=", ".join(SUFFIXES), found=Path(name).suffix or name)
    folder = Path(tempfile.mkdtemp(prefix="geo_p2dd_upload_"))
    try:
        path = folder / name
        upload.save(path)
        return preview_import(_project(), path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _foreign_sites(preview: ImportPreview) -> list[tuple[str, str]]:
    """(site, agency) pairs of the preview an editor of another agency may not touch."""
    own = current_user.agency
    found: list[tuple[str, str]] = []
    for row in preview.plan.creates:
        if not _same_agency(own, row.get("agency")):
            found.append((str(row.get("name") or row.get("id")), row.get("agency") or ""))
    engine = register_engine()
    touched = [(site_id, changes) for site_id, _v, changes in preview.plan.updates]
    touched += [(old, {}) for old, _new, _v in preview.plan.renames]  # stored by old id
    for site_id, changes in touched:
        try:
            site, _tag = repo.get_site(engine, site_id, include_deleted=True)
        except NotFoundError:  # gone since the preview: the commit answers 409
            continue
        for agency in {site.get("agency"), changes.get("agency", site.get("agency"))}:
            if not _same_agency(own, agency):
                found.append((str(site.get("name") or site_id), agency or ""))
    return found


def check_agency(preview: ImportPreview) -> None:
    """403 naming the sites of other agencies when an editor's sheet holds any."""
    if current_user.role == "admin":
        return
    foreign = _foreign_sites(preview)
    if not foreign:
        return
    named = ", ".join(f"{name} ({agency or _('no agency')})"
                      for name, agency in foreign[:NAMED_MAX])
    if len(foreign) > NAMED_MAX:
        named += " " + _("and %(n)s more", n=len(foreign) - NAMED_MAX)
    raise Forbidden(_("An editor of %(own)s may only import sites of %(own)s; this sheet "
                      "holds sites of other agencies: %(sites)s. Nothing was imported.",
                      own=current_user.agency, sites=named))


def _commit(key: str) -> ImportPreview:
    preview = previews().get(current_user.name, key)
    check_agency(preview)
    try:
        commit_import(_project(), preview, current_user.name, source="import")
    except RegisterChangedError as exc:
        previews().pop(current_user.name, key)
        raise Conflict(_("The register changed since this preview was made; nothing was "
                         "imported. Upload the file again to see the changes now.")) from exc
    previews().pop(current_user.name, key)
    return preview


def _summary(key: str, preview: ImportPreview) -> dict[str, Any]:
    return {"id": key, **preview.to_dict()}


# --- JSON API -------------------------------------------------------------------------------

@bp.post("/api/imports")
@require(*WRITERS)
def api_preview():
    preview = _preview_upload()
    check_agency(preview)
    key = previews().add(current_user.name, preview)
    return _summary(key, preview), 201


@bp.post("/api/imports/<key>/commit")
@require(*WRITERS)
def api_commit(key: str):
    preview = _commit(key)
    return {"id": key, "added": len(preview.added), "updated": len(preview.updated),
            "unchanged": len(preview.unchanged)}


# --- pages ----------------------------------------------------------------------------------

@bp.get("/register/upload")
@require(*WRITERS)
def upload_page():
    return render_template("register/upload.html", preview=None, key=None)


@bp.post("/register/upload")
@require(*WRITERS)
def upload_preview():
    try:
        preview = _preview_upload()
        check_agency(preview)
    except (InputError, Forbidden) as exc:
        message = exc.description if isinstance(exc, Forbidden) else str(exc)
        return render_template("register/upload.html", preview=None, key=None,
                               error=message), 400 if isinstance(exc, InputError) else 403
    key = previews().add(current_user.name, preview)
    return render_template("register/upload.html", preview=preview, key=key)


@bp.post("/register/upload/<key>/commit")
@require(*WRITERS)
def upload_commit(key: str):
    try:
        preview = _commit(key)
    except Conflict as exc:
        return render_template("register/upload.html", preview=None, key=None,
                               error=exc.description), 409
    flash(_("Imported: %(added)s added, %(updated)s updated, %(unchanged)s unchanged.",
            added=len(preview.added), updated=len(preview.updated),
            unchanged=len(preview.unchanged)))
    return redirect(url_for("register.index"))


@bp.get("/register/upload/<key>/rejected.xlsx")
@require(*WRITERS)
def rejected_xlsx(key: str) -> Response:
    from flask import g

    preview = previews().get(current_user.name, key)
    folder = Path(tempfile.mkdtemp(prefix="geo_p2dd_rejected_"))
    path = rejected_rows_xlsx(preview, folder / "rejected.xlsx", g.get("lang", "id"))
    data = path.read_bytes()
    shutil.rmtree(folder, ignore_errors=True)
    stem = Path(preview.file).stem or "sheet"
    suffix = _("rejected")
    return send_file(io.BytesIO(data), as_attachment=True,
                     download_name=f"{stem}_{suffix}.xlsx",
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml"
                              ".sheet")
