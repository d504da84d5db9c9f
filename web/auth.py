"""Who is asking: sign-in (Flask-Login), API tokens, roles, CSRF and the sign-in rate limit.

- **Sessions.** A signed-in person carries Flask's signed session cookie
  (``HttpOnly``, ``SameSite=Lax``, ``Secure`` whenever the request came over
  HTTPS, also through a trusted reverse proxy). Passwords are checked with
  :func:`geo_p2dd.registry.accounts.authenticate` (Argon2id).
- **Tokens.** A request with ``Authorization: Bearer <token>`` is that token's
  user for this request only (no cookie is set); an unknown or revoked token is
  401. Token requests need no CSRF token: a browser never adds that header to
  a cross-site request by itself.
- **CSRF.** Every other POST, PUT, PATCH and DELETE must carry the session's
  CSRF token (Flask-WTF): the hidden ``csrf_token`` field of a form, or the
  ``X-CSRFToken`` header of a ``fetch()`` (the token is in the page's
  ``<meta name="csrf-token">``).
- **Roles.** ``admin`` changes every record; an ``editor`` changes only the
  records of their own agency (and sees all); ``reviewer`` and ``viewer`` read.
  :func:`require` guards a view; :func:`check_may_edit` refuses a record of
  another agency with 403 naming why. Anonymous API requests get 401, pages a
  redirect to the sign-in page.
- **Public or not.** ``[web] public = false`` in ``project.toml`` makes the
  maps, downloads, OGC API and summaries need sign-in too.
- **Rate limit.** :class:`LoginLimiter`: five failed sign-ins of one name from
  one address within 15 minutes (or fifty of any names) → 429 with
  ``Retry-After``, in-process.

The register database is the project's (:func:`register_engine`): the SQLite
file in the project, or ``GEO_P2DD_DATABASE_URL``; its sites layer moves in on
first use (:func:`geo_p2dd.registry.migrate.move_sites_layer`); its engine is the
library's (:func:`geo_p2dd.registry.store.engine_for`), one per database.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_login import AnonymousUserMixin, LoginManager, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from markupsafe import Markup
from sqlalchemy import Engine
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import BadRequest, Forbidden, TooManyRequests, Unauthorized

from geo_p2dd.errors import NotFoundError
from geo_p2dd.registry import accounts

bp = Blueprint("auth", __name__, url_prefix="/auth")
log = logging.getLogger("geo_p2dd.web")

#: roles that create and change register records
WRITERS = ("admin", "editor")
#: failed sign-ins of one name from one address allowed within :data:`LOGIN_WINDOW_S`
LOGIN_MAX_FAILURES = 5
LOGIN_WINDOW_S = 15 * 60
#: the file in the project holding the session-signing key when none is configured
SECRET_FILE = "web_secret.key"
#: blueprints whose pages need sign-in when ``[web] public = false``
PUBLIC_BLUEPRINTS = ("maps", "downloads", "ogcapi", "reports")
_UNSAFE = ("POST", "PUT", "PATCH", "DELETE")

#: stand for the per-request user links and CSRF meta tag in rendered (maybe cached) pages
NAV_PLACEHOLDER = "geo-p2dd-nav-" + secrets.token_hex(12)
HEAD_PLACEHOLDER = "geo-p2dd-head-" + secrets.token_hex(12)

csrf = CSRFProtect()
login_manager = LoginManager()
_engine_lock = threading.Lock()


# --- who ----------------------------------------------------------------------------------

class SignedIn:
    """A signed-in user (a session or an API token) as Flask-Login sees them."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, record: dict[str, Any], *, via_token: bool = False) -> None:
        self.name: str = record["name"]
        self.role: str = record["role"]
        self.agency: str | None = record.get("agency")
        self.via_token = via_token

    def get_id(self) -> str:
        return self.name

    @property
    def can_write(self) -> bool:
        return self.role in WRITERS


class Anonymous(AnonymousUserMixin):
    """Nobody signed in."""

    name = None
    role = None
    agency = None
    via_token = False
    can_write = False


def _same_agency(a: str | None, b: str | None) -> bool:
    return bool(a and b) and a.strip().casefold() == b.strip().casefold()  # type: ignore[union-attr]


def may_edit(user: Any, agency: str | None) -> bool:
    """Whether ``user`` may create, change or delete a record of ``agency``."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.role == "admin":
        return True
    return user.role == "editor" and _same_agency(user.agency, agency)


def check_may_edit(agency: str | None) -> None:
    """Refuse (403, saying why) unless the current user may change a record of ``agency``."""
    user = current_user
    if may_edit(user, agency):
        return
    if user.role == "editor":
        raise Forbidden(_("An editor of %(own)s may not change records of %(other)s.",
                          own=user.agency, other=agency or _("no agency")))
    raise Forbidden(_("The role %(role)s may not change register records.", role=user.role))


def require(*roles: str) -> Callable:
    """A view decorator: signed in (else 401 or the sign-in page), one of ``roles`` (else 403)."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if roles and current_user.role not in roles:
                raise Forbidden(_("This needs the role %(roles)s; you are %(role)s.",
                                  roles=" / ".join(roles), role=current_user.role))
            return view(*args, **kwargs)

        return guarded

    return decorate


def source() -> str:
    """Where a change comes from, for the history: ``api`` for tokens, ``web`` for sessions."""
    return "api" if current_user.via_token else "web"


def _wants_json() -> bool:
    """A request a script makes (the API, OGC API, JSON documents such as
    ``/lapor/villages.geojson`` and ``/lapor/token``): refused with 401, not redirected."""
    return (request.path.startswith(("/api/", "/ogcapi"))
            or request.path.endswith((".json", ".geojson", "/token"))
            or request.accept_mimetypes.best == "application/json")


def _unauthorized():
    if _wants_json() or request.method in _UNSAFE:
        raise Unauthorized(_("Sign in first, or send an API token (Authorization: Bearer)."),
                           www_authenticate=WWWAuthenticate("bearer", {"realm": "geo_p2dd"}))
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _load_user(name: str) -> SignedIn | None:
    try:
        record = accounts.get_user(register_engine(), name)
    except NotFoundError:
        return None
    return None if record["disabled"] else SignedIn(record)


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


# --- the register database ----------------------------------------------------------------

def register_engine() -> Engine:
    """The app's register database (opened, migrated and the sites layer moved in once).

    The library's cached engine of that database (:func:`geo_p2dd.registry.store.engine_for`),
    so the app and the analysis it runs share one engine per database.
    """
    app = current_app
    engine = app.extensions.get("geo_p2dd.register")
    if engine is None:
        with _engine_lock:
            engine = app.extensions.get("geo_p2dd.register")
            if engine is None:
                from geo_p2dd.project import Project
                from geo_p2dd.registry.migrate import move_sites_layer
                from geo_p2dd.registry.store import engine_for

                project = Project(app.config["PROJECT"])
                engine = engine_for(project.path, app.config.get("DATABASE_URL") or None)
                move_sites_layer(project, engine)
                app.extensions["geo_p2dd.register"] = engine
    return engine


# --- secret, cookies, rate limit ----------------------------------------------------------

def project_secret(project_dir: str | Path) -> str:
    """The session-signing key kept in the project (made once, readable by its owner only)."""
    path = Path(project_dir) / SECRET_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    from geo_p2dd.io.atomic import temporary_sibling

    tmp = temporary_sibling(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(48))
    try:
        os.link(tmp, path)  # the first of two processes wins; the other reads its key
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed cookie session, ``Secure`` whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or (
            bool(request) and request.is_secure)


class LoginLimiter:
    """Failed sign-ins per (name, address): past ``max_failures`` within ``window_s``, wait.

    One address trying many names is limited too, at ``address_factor`` times
    ``max_failures`` failures over all names.

    Parameters
    ----------
    max_failures : int
    window_s : float
    clock : callable
        Seconds (monotonic); tests pass their own.
    address_factor : int
    """

    MAX_KEYS = 100_000
    _ANY = "\0any"  # the key of an address's failures over all names

    def __init__(self, max_failures: int = LOGIN_MAX_FAILURES,
                 window_s: float = LOGIN_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic,
                 address_factor: int = 10) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self.address_factor = address_factor
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def _wait(self, key: tuple[str, str], limit: int, now: float) -> int:
        times = self._recent(key, now)
        if len(times) < limit:
            return 0
        return max(1, int(times[-limit] + self.window_s - now + 0.999))

    def retry_after(self, name: str, address: str) -> int:
        """Seconds until ``name`` may try again from ``address`` (0: now)."""
        now = self.clock()
        with self._lock:
            return max(self._wait((name.casefold(), address), self.max_failures, now),
                       self._wait((self._ANY, address),
                                  self.max_failures * self.address_factor, now))

    def failed(self, name: str, address: str) -> None:
        """Record a failed sign-in."""
        now = self.clock()
        with self._lock:
            if len(self._failures) >= self.MAX_KEYS:  # forget the quiet ones
                for k in [k for k in self._failures if not self._recent(k, now)]:
                    del self._failures[k]
            for key in ((name.casefold(), address), (self._ANY, address)):
                times = self._recent(key, now)
                times.append(now)
                times_max = self.max_failures * self.address_factor
                while len(times) > times_max:
                    times.popleft()
                self._failures[key] = times

    def succeeded(self, name: str, address: str) -> None:
        """Forget the failures of a name that signed in."""
        with self._lock:
            self._failures.pop((name.casefold(), address), None)


# --- the app ------------------------------------------------------------------------------

def init_app(app: Flask) -> None:
    """Sessions, Flask-Login, CSRF, the token check and the public/private gate."""
    if not app.config.get("SECRET_KEY"):
        try:
            app.config["SECRET_KEY"] = project_secret(app.config["PROJECT"])
        except OSError as exc:  # a read-only or missing project: sessions last one process
            log.warning("no session key file in the project (%s); sign-ins end when the "
                        "server restarts (set GEO_P2DD_SECRET_KEY)", exc.strerror)
            app.config["SECRET_KEY"] = secrets.token_urlsafe(48)
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 12 * 3600)
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # checked below, except for token requests
    app.session_interface = SessionCookies()
    app.extensions["geo_p2dd.login_limiter"] = LoginLimiter()
    login_manager.init_app(app)
    login_manager.anonymous_user = Anonymous
    login_manager.user_loader(_load_user)
    login_manager.unauthorized_handler(_unauthorized)
    csrf.init_app(app)
    app.register_blueprint(bp)

    @app.before_request
    def who_and_csrf():
        token = _bearer()
        if token is not None:
            record = accounts.user_for_token(register_engine(), token)
            if record is None:
                raise Unauthorized(_("The API token is unknown, revoked or its user disabled."),
                                   www_authenticate=WWWAuthenticate(
                                       "bearer", {"realm": "geo_p2dd", "error": "invalid_token"}))
            g._login_user = SignedIn(record, via_token=True)
        elif request.method in _UNSAFE and request.routing_exception is None:
            if request.path.startswith("/api/") and not current_user.is_authenticated:
                return login_manager.unauthorized()  # 401 says what is missing, not CSRF
            try:  # (an unknown URL or method stays 404/405)
                csrf.protect()
            except CSRFError:
                raise BadRequest(_("The form has expired or did not come from this site. "
                                   "Reload the page and try again.")) from None
        if request.blueprint in PUBLIC_BLUEPRINTS and not _public(app) \
                and not current_user.is_authenticated:
            return login_manager.unauthorized()
        return None

    @app.context_processor
    def placeholders():
        return {"auth_head": Markup(HEAD_PLACEHOLDER), "auth_nav": Markup(NAV_PLACEHOLDER)}

    @app.after_request
    def personalise(response):
        return personalise_page(response)


def visitor_stamp() -> str:
    """Who a personalised page is for: the signed-in user and their session's CSRF secret,
    or ``anonymous``. Part of a kept page's entity tag, so a browser that kept a page
    from another sign-in (or none) is sent a fresh one, not ``304 Not Modified``."""
    if not current_user.is_authenticated:
        return "anonymous"
    from flask import session
    from flask_wtf.csrf import generate_csrf

    generate_csrf()  # the session's CSRF secret exists from now on (the page will carry it)
    return f"{current_user.get_id()}:{session.get('csrf_token', '')}"


def personalise_page(response: Response) -> Response:
    """Put this visitor's sign-in links (and, signed in, the CSRF meta tag) into a page.

    Map pages are rendered once and cached for every visitor, so they carry
    placeholders; only this step, per request, knows who is asking.
    """
    if response.mimetype != "text/html" or response.direct_passthrough \
            or response.is_streamed:
        return response
    data = response.get_data()
    if NAV_PLACEHOLDER.encode() not in data and HEAD_PLACEHOLDER.encode() not in data:
        return response
    head = render_template("auth/head.html") if current_user.is_authenticated else ""
    nav = render_template("auth/nav.html")
    response.set_data(data.replace(HEAD_PLACEHOLDER.encode(), head.encode())
                      .replace(NAV_PLACEHOLDER.encode(), nav.encode()))
    if current_user.is_authenticated:
        response.headers["Cache-Control"] = "private, no-cache"
    response.vary.add("Cookie")
    return response


def _public(app: Flask) -> bool:
    """``[web] public`` of the project, read again only when its settings changed.

    Reads ``project.toml`` alone (not the project's layers: the OGC API and
    downloads do not need the map's view of the project).
    """
    from geo_p2dd.project import Project
    from web.context import _stamp

    path = Path(app.config["PROJECT"])
    stamp = _stamp(path)
    known = app.extensions.get("geo_p2dd.public")
    if known is None or known[0] != stamp:
        known = (stamp, Project(path).settings.web.public)
        app.extensions["geo_p2dd.public"] = known
    return known[1]


def limiter() -> LoginLimiter:
    return current_app.extensions["geo_p2dd.login_limiter"]


def _safe_next(target: str | None) -> str:
    """A local path to go to after signing in (never another site)."""
    if target and target.startswith("/") and not target.startswith("//") \
            and "\\" not in target:
        return target
    return url_for("register.index")


# --- pages --------------------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login():
    target = request.values.get("next")
    if request.method == "GET":
        return render_template("auth/login.html", next=target, name="")
    name = (request.form.get("name") or "").strip()
    password = request.form.get("password") or ""
    address = request.remote_addr or "-"
    wait = limiter().retry_after(name, address)
    if wait:
        raise TooManyRequests(_("Too many failed sign-ins. Try again in %(minutes)s minutes.",
                                minutes=max(1, (wait + 59) // 60)), retry_after=wait)
    record = accounts.authenticate(register_engine(), name, password) if name else None
    if record is None:
        limiter().failed(name, address)
        return render_template("auth/login.html", next=target, name=name,
                               error=_("Wrong name or password.")), 401
    limiter().succeeded(name, address)
    session.clear()  # nothing of the anonymous session carries over
    login_user(SignedIn(record))
    flash(_("Signed in as %(name)s.", name=record["name"]))
    return redirect(_safe_next(target))


@bp.post("/logout")
def logout():
    logout_user()
    session.clear()
    response = redirect(url_for("maps.index"))
    # nothing of this user stays on a shared phone: cached pages (the field form with its
    # CSRF token), its queue, the service worker (see web.field_reports)
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response
