"""The analysis re-run in the background after register changes, and what pages say about it.

- **When.** After every request that changed the register (a site added, edited or
  deleted on a page or through the API, an agency sheet committed: anything that
  raises the register's version, :func:`geo_p2dd.registry.repository.bump_version`)
  the app asks the project's :class:`Runner` for an analysis. The one place this is
  decided is :func:`notice`, called after each request: it compares the register's
  version with the version the stored results were computed from (recorded by
  :func:`geo_p2dd.analysis.analyze_project` as ``[analysis] register_version``) and
  with the last version it asked for. A page view that finds the register newer
  (a change made by the CLI or another server process) asks too. A project never
  analysed is not analysed by the server on its own (``geo-p2dd analyze``, or an
  admin's POST /api/analysis).
- **One at a time.** One runner per project in this process, one thread: changes that
  arrive while it runs coalesce into exactly one more run afterwards. Other server
  processes and the CLI are serialised by the project lock the analysis takes; a run
  that finds the results current when it gets the lock (another process analysed
  them) does nothing.
- **Pages keep serving the previous results.** An analysis writes a new generation and
  switches it in at once (:meth:`geo_p2dd.project.Project.transaction`); pages read the
  committed generation (:func:`web.context.load_view`), never waiting for a run.
- **What pages say.** Map pages, the register and the summary index carry a status line
  (``analysis/status.html``): when the results were computed and from which register
  version; when the register is newer, that an analysis runs (with its progress) or
  waits; its script (``analysis/status.js``, inlined: no extra request) polls
  ``GET /api/analysis`` while one runs and offers to reload when the new results are
  in. Admins may start one (``POST /api/analysis``).
- **On or off.** ``[web] reanalyse`` of ``project.toml`` (default true); the app's
  ``REANALYSE`` setting (``GEO_P2DD_REANALYSE``) overrides it (the test suite turns
  it off, tests that need it turn it on).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from babel.dates import format_datetime
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from flask_login import current_user

from geo_p2dd.project import CONFIG_NAME, Project, generation_number
from web.auth import _public, login_manager, register_engine, require

log = logging.getLogger("geo_p2dd.web")
bp = Blueprint("reanalysis", __name__)

#: endpoints whose pages carry the analysis status line
STATUS_PAGES = ("maps.index", "maps.village", "register.index", "reports.index")
#: how long a run waits for the project lock (a long CLI import) before it fails
LOCK_TIMEOUT_S = 6 * 3600.0
#: methods that may change the register
_UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
#: an absolute path in an error message (kept: its last part)
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\s\\/'\"(),:;]+)+[\\/]([^\s\\/'\"(),:;]+)")


def public_message(exc: BaseException, limit: int = 300) -> str:
    """An error's message fit to show: no directories (only a file's name), no traceback."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    text = _PATH.sub(r"\1", text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


@dataclass
class RunState:
    """What a runner is doing, or did last (the body of ``GET /api/analysis``, in part)."""

    #: idle, queued (asked for, waiting for its turn or the project lock), running, failed
    status: str = "idle"
    #: the analysis stage running (:data:`geo_p2dd.analysis.STAGES`), "waiting" for the lock
    stage: str | None = None
    #: the fraction of the stages done (0 to 1)
    progress: float | None = None
    started_at: str | None = None
    finished_at: str | None = None
    #: the register version the running (or last) analysis read
    running_register_version: int | None = None
    #: another run follows the current one (changes arrived while it ran)
    pending: bool = False
    #: the last failure's message (no paths, no traceback); None after a success
    error: str | None = None
    #: analyses completed (succeeded or failed) and runs skipped (results already current)
    runs: int = 0
    skipped: int = 0


Analyse = Callable[[Project, Callable[[str, float], None]], Any]


def _analyse(project: Project, progress: Callable[[str, float], None]) -> Any:
    from geo_p2dd.analysis import analyze_project

    return analyze_project(project, progress=progress)


class Runner:
    """One project's background analyses: at most one at a time, later requests coalesced.

    Parameters
    ----------
    path : str or Path
        The project directory.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._pending = False
        self._force = False
        self._stopping = False
        self.state = RunState()
        #: the highest register version an analysis was asked for (see :func:`notice`)
        self.asked_version = -1

    # -- asking -----------------------------------------------------------------------------
    def request(self, *, force: bool = False) -> None:
        """Ask for an analysis: now when none runs, else exactly one more after it.

        ``force`` runs it even when the stored results are current.
        """
        with self._lock:
            if self._stopping:
                return
            self._pending = True
            self._force = self._force or force
            if self._thread is None:
                self.state.status = "queued"
                self.state.stage = None
                self.state.progress = None
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name=f"reanalyse {self.path.name}")
                self._thread.start()
            else:
                self.state.pending = True
            self._changed.notify_all()

    def snapshot(self) -> RunState:
        """A copy of the state (consistent: taken under the runner's lock)."""
        with self._lock:
            return RunState(**asdict(self.state))

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no run is running or asked for; False when ``timeout`` passed first."""
        with self._lock:
            return self._changed.wait_for(lambda: self._thread is None, timeout)

    def stop(self, timeout: float | None = None) -> bool:
        """Take no more requests, drop the pending one, wait for the running one to end."""
        with self._lock:
            self._stopping = True
            self._pending = False
            self.state.pending = False
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    # -- running ----------------------------------------------------------------------------
    def _set(self, **values: Any) -> None:
        with self._lock:
            for key, value in values.items():
                setattr(self.state, key, value)
            self._changed.notify_all()

    def _loop(self) -> None:
        while True:
            with self._lock:
                if not self._pending or self._stopping:
                    self._thread = None
                    if self.state.status != "failed":
                        self.state.status = "idle"
                    self.state.stage = None
                    self.state.pending = False
                    self._changed.notify_all()
                    return
                self._pending, self.state.pending = False, False
                force, self._force = self._force, False
                self.state.status = "queued"
            self._run_once(force)

    def _run_once(self, force: bool) -> None:
        try:
            project = Project(self.path)
            with project.locked("analysis after register changes", timeout=LOCK_TIMEOUT_S,
                                on_wait=lambda _message: self._set(stage="waiting")):
                if not force and project.config.get("analysis") \
                        and not project.analysis_stale:
                    self._set(stage=None, skipped=self.state.skipped + 1)
                    return
                self._set(status="running", stage="load", progress=0.0, started_at=_now(),
                          finished_at=None, running_register_version=project.register_version)
                _analyse(project, self._progress)
        except Exception as exc:  # reported, never raised in a thread nobody joins
            log.exception("the background analysis of %s failed", self.path)
            self._set(status="failed", error=public_message(exc), finished_at=_now(),
                      stage=None, runs=self.state.runs + 1)
            return
        self._set(stage="done", progress=1.0, error=None, finished_at=_now(),
                  runs=self.state.runs + 1)

    def _progress(self, stage: str, fraction: float) -> None:
        self._set(stage=stage, progress=round(float(fraction), 3))


_RUNNERS: dict[str, Runner] = {}
_RUNNERS_LOCK = threading.Lock()


def runner_for(path: str | Path) -> Runner:
    """The project's runner in this process (one per project directory)."""
    key = str(Path(path).resolve())
    with _RUNNERS_LOCK:
        runner = _RUNNERS.get(key)
        if runner is None:
            runner = _RUNNERS[key] = Runner(path)
        return runner


def stop_runner(path: str | Path, timeout: float | None = 120.0) -> bool:
    """Stop the project's runner (waiting for a running analysis) and forget it."""
    with _RUNNERS_LOCK:
        runner = _RUNNERS.pop(str(Path(path).resolve()), None)
    return True if runner is None else runner.stop(timeout)


# --- what the stored results were computed from ------------------------------------------

@dataclass(frozen=True)
class Analysed:
    """The stored analysis of a project's current generation."""

    #: when (ISO 8601, UTC); None when the project was never analysed
    at: str | None
    #: the register version and the data version the results were computed from
    register_version: int | None
    data_version: int | None
    #: the data version of the project's files (without the register)
    file_data_version: int


_ANALYSED: dict[str, tuple[tuple, Analysed]] = {}


def analysed(path: str | Path) -> Analysed:
    """What the results of the project's current generation were computed from (cached
    per generation: a poll costs a link read and a file status, not a TOML parse)."""
    path = Path(path)
    config = path / CONFIG_NAME
    stamp = (generation_number(path), config.stat().st_mtime_ns if config.exists() else 0)
    key = str(path.resolve())
    known = _ANALYSED.get(key)
    if known is not None and known[0] == stamp:
        return known[1]
    found = analysed_of(Project(path))
    _ANALYSED[key] = (stamp, found)
    return found


def analysed_of(project: Project) -> Analysed:
    """:func:`analysed` of a project already read (a page's view).

    Results stored before the register version was recorded: their data version less
    the files' (right unless the files changed since).
    """
    record = project.config.get("analysis") or {}
    files = project.file_data_version
    data = record.get("data_version")
    register = record.get("register_version")
    if register is None and data is not None and data >= files:
        register = int(data) - files
    return Analysed(at=record.get("date"), register_version=register,
                    data_version=data, file_data_version=files)


# --- the app ------------------------------------------------------------------------------

def enabled(app: Flask) -> bool:
    """Whether the app re-analyses after register changes: ``REANALYSE`` when set, else
    ``[web] reanalyse`` of the project (read again only when its settings changed)."""
    forced = app.config.get("REANALYSE")
    if forced is not None:
        return bool(forced)
    path = Path(app.config["PROJECT"])
    config = path / CONFIG_NAME
    stamp = (generation_number(path), config.stat().st_mtime_ns if config.exists() else 0)
    known = app.extensions.get("geo_p2dd.reanalyse")
    if known is None or known[0] != stamp:
        known = (stamp, Project(path).settings.web.reanalyse)
        app.extensions["geo_p2dd.reanalyse"] = known
    return known[1]


def _register_version() -> int:
    from geo_p2dd.registry.repository import version
    from geo_p2dd.registry.store import has_register

    if not has_register(current_app.config["PROJECT"]) \
            and "geo_p2dd.register" not in current_app.extensions:
        return 0
    return version(register_engine())


def notice(response: Response) -> Response:
    """After a request: ask for an analysis when the register is newer than the results
    (and than the last version asked for). Writes read the register's version; page
    views use the one their project view read (no extra query). A failure here is logged,
    never turned into an error of the request (its change is committed already)."""
    if response.status_code >= 400 or not (request.method in _UNSAFE or "view" in g):
        return response
    try:
        _notice()
    except Exception:
        log.exception("could not ask for an analysis after %s %s", request.method,
                      request.path)
    return response


def _notice() -> None:
    if not enabled(current_app):
        return
    current = _register_version() if request.method in _UNSAFE else g.view.stamp[-1]
    path = current_app.config["PROJECT"]
    runner = runner_for(path)
    if current <= runner.asked_version:
        return
    done = analysed(path).register_version
    if done is None or current <= done:
        return
    runner.asked_version = current
    runner.request()


def status(path: str | Path, *, admin: bool = False) -> dict[str, Any]:
    """The body of ``GET /api/analysis``."""
    state = runner_for(path).snapshot()
    stored = analysed(path)
    register = _register_version()
    out = {"status": state.status, "stage": state.stage, "progress": state.progress,
           "register_version": register,
           "analysed_register_version": stored.register_version,
           "analysed_at": stored.at, "analysed_data_version": stored.data_version,
           "data_version": stored.file_data_version + register,
           "pending": state.pending, "started_at": state.started_at,
           "finished_at": state.finished_at,
           "running_register_version": state.running_register_version,
           "may_start": admin}
    if admin:
        out["error"] = state.error
    return out


def _is_admin() -> bool:
    return bool(current_user.is_authenticated and current_user.role == "admin")


@bp.get("/api/analysis")
def get_status():
    if not _public(current_app) and not current_user.is_authenticated:
        return login_manager.unauthorized()
    response = jsonify(status(current_app.config["PROJECT"], admin=_is_admin()))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api/analysis")
@require("admin")
def start():
    path = current_app.config["PROJECT"]
    runner_for(path).request(force=True)
    response = jsonify(status(path, admin=True))
    response.status_code = 202
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the status line ----------------------------------------------------------------------

def when(iso: str | None, lang: str) -> str:
    """An analysis time as pages show it: ``29 Nov 2026 23:10 UTC``."""
    if not iso:
        return ""
    moment = dt.datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return format_datetime(moment.astimezone(dt.UTC), "d MMM y HH:mm", tzinfo=dt.UTC,
                           locale=lang) + " UTC"


def status_line() -> dict[str, Any] | None:
    """What this page's status line shows (None: not on this page, or nothing to say).

    Only what the page's project view says (pages are cached per view): the running
    state comes from ``/api/analysis`` in the browser.
    """
    if request.endpoint not in STATUS_PAGES:
        return None
    from web.context import current_view

    try:
        view = current_view()
    except Exception:  # the error page renders without it
        return None
    stored = analysed_of(view.project)
    if stored.at is None or view.results is None:
        return None
    register = view.stamp[-1]
    lang = g.get("lang", current_app.config["DEFAULT_LANGUAGE"])
    return {"at": when(stored.at, lang), "at_iso": stored.at,
            "register_version": stored.register_version, "current_version": register,
            "behind": stored.register_version is not None
            and register > stored.register_version,
            "on": enabled(current_app)}


def init_app(app: Flask) -> None:
    """The status API, the after-request check and the status line of pages."""
    app.register_blueprint(bp)
    app.after_request(notice)

    @app.context_processor
    def analysis_status():
        return {"analysis_line": status_line}
