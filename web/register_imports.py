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

**Previews** are kept in the register database (:mod:`geo_p2dd.registry.uploads`)
for :data:`~geo_p2dd.registry.uploads.PREVIEW_TTL` (``IMPORT_PREVIEW_TTL_S`` in
the app's config overrides it): any app instance on the same database shows
and commits them; only the user who made one commits it (another user gets
404); a preview is committed once (again: 409). The uploaded file is written to
a private temporary directory for reading and removed right after; no server
path appears in a response. Committed imports wait for a reviewer's verdict
(:mod:`web.register_review`).
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
import tempfile
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
from geo_p2dd.registry import uploads
from geo_p2dd.registry.importing import (
    ImportPreview,
    preview_import,
    rejected_rows_xlsx,
)
from geo_p2dd.registry.sync import RegisterChangedError
from web.auth import WRITERS, _same_agency, register_engine, require
from web.errors import public_message

bp = Blueprint("register_imports", __name__)

KINDS = ("sites",)
SUFFIXES = (".csv", ".xlsx", ".xls", ".gpkg", ".geojson", ".json", ".zip", ".kml")
#: the largest upload read (bytes); larger is 413
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: sites named in a 403 before "and N more"
NAMED_MAX = 10


def _ttl() -> dt.timedelta:
    seconds = current_app.config.get("IMPORT_PREVIEW_TTL_S")
    return uploads.PREVIEW_TTL if seconds is None else dt.timedelta(seconds=seconds)


def _gone() -> NotFound:
    return NotFound(_("This import preview does not exist or has expired; upload the "
                      "file again."))


def _stored(key: str) -> ImportPreview:
    """The current user's stored preview ``key`` (404 when unknown, expired or another's)."""
    try:
        _record, preview = uploads.get_upload(register_engine(), key, user=current_user.name)
    except NotFoundError as exc:
        raise _gone() from exc
    return preview


def _keep(preview: ImportPreview) -> str:
    agency = current_user.agency if current_user.role == "editor" else None
    return uploads.save_preview(register_engine(), preview, user=current_user.name,
                                agency=agency, ttl=_ttl())


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
    # a site the sheet renames is stored by its old id until the commit
    stored_as = {new: old for old, new, _v in preview.plan.renames}
    touched = [(stored_as.get(site_id, site_id), changes)
               for site_id, _v, changes in preview.plan.updates]
    touched += [(old, {}) for old, _new, _v in preview.plan.renames]
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
    preview = _stored(key)
    check_agency(preview)
    try:
        uploads.commit_upload(register_engine(), key, user=current_user.name, source="import")
    except NotFoundError as exc:
        raise _gone() from exc
    except uploads.ImportStateError as exc:
        raise Conflict(_("This import was saved to the register already.")) from exc
    except RegisterChangedError as exc:
        raise Conflict(_("The register changed since this preview was made; nothing was "
                         "imported. Upload the file again to see the changes now.")) from exc
    return preview


def _summary(key: str, preview: ImportPreview) -> dict[str, Any]:
    return {"id": key, **preview.to_dict()}


# --- JSON API -------------------------------------------------------------------------------

@bp.post("/api/imports")
@require(*WRITERS)
def api_preview():
    preview = _preview_upload()
    check_agency(preview)
    key = _keep(preview)
    return _summary(key, preview), 201


@bp.post("/api/imports/<key>/commit")
@require(*WRITERS)
def api_commit(key: str):
    preview = _commit(key)
    return {"id": key, "added": len(preview.added), "updated": len(preview.updated),
            "unchanged": len(preview.unchanged), "status": "committed"}


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
        message = exc.description if isinstance(exc, Forbidden) else public_message(str(exc))
        return render_template("register/upload.html", preview=None, key=None,
                               error=message), 400 if isinstance(exc, InputError) else 403
    key = _keep(preview)
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

    preview = _stored(key)
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


def _nest() -> None:
    """The reviewers' pages and the audit log live in blueprints of their own, inside this one."""
    from web import register_audit, register_review

    bp.register_blueprint(register_review.bp)
    bp.register_blueprint(register_audit.bp)


_nest()
