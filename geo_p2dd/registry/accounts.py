"""Register users, their passwords (Argon2id) and API tokens (stored as SHA-256 only).

Roles: ``admin`` (Diskominfo: users and every record), ``editor`` (bound to
one agency), ``reviewer`` and ``viewer``. A password is stored as an Argon2id
hash (argon2-cffi); an API token is 32 random bytes shown once and stored as
its SHA-256, so a copy of the database gives no usable token.

Every change of an account — added, disabled, role or agency changed, token
issued — is an ``audit_events`` row (kind ``user``) written in the change's own
transaction, with who did it (``actor``) and from where (``source``: ``cli``
or ``web``); never the password or the token.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from geo_p2dd.errors import GeoP2DDError, InputError, NotFoundError
from geo_p2dd.registry.audit import record_event
from geo_p2dd.registry.db import read_transaction, write_transaction
from geo_p2dd.registry.models import ROLES, ApiToken, User

USERS = User.__table__
TOKENS = ApiToken.__table__
MIN_PASSWORD = 8
#: Argon2id cost (time_cost, memory_cost in KiB, parallelism): argon2-cffi's default,
#: RFC 9106's second recommended option (64 MiB); ``GEO_P2DD_ARGON2`` ("t,m,p") sets
#: another for a small server, never below :data:`ARGON2_MINIMUM`
ARGON2_DEFAULT = (3, 65536, 4)
#: OWASP's lowest recommended Argon2id cost (t=2, 19 MiB, p=1); the test suite uses it
ARGON2_MINIMUM = (2, 19456, 1)
ARGON2_ENV = "GEO_P2DD_ARGON2"


def argon2_cost(value: str | None) -> tuple[int, int, int]:
    """The Argon2id cost given as ``"time_cost,memory_kib,parallelism"`` (None: default).

    A stored hash keeps the cost it was made with, so passwords set under one cost
    still verify under another.

    Raises
    ------
    InputError
        Not three whole numbers, or any below :data:`ARGON2_MINIMUM`.
    """
    if value is None or not value.strip():
        return ARGON2_DEFAULT
    expected = (f"time_cost,memory_kib,parallelism, each at least "
                f"{','.join(map(str, ARGON2_MINIMUM))} (e.g. "
                f"{','.join(map(str, ARGON2_DEFAULT))})")
    try:
        cost = tuple(int(part) for part in value.split(","))
    except ValueError:
        cost = ()
    if len(cost) != 3 or any(c < m for c, m in zip(cost, ARGON2_MINIMUM, strict=True)):
        raise InputError("unusable password hashing cost", column=ARGON2_ENV,
                         expected=expected, found=repr(value))
    return cost  # type: ignore[return-value]


@functools.cache
def _hasher() -> PasswordHasher:
    t, m, p = argon2_cost(os.environ.get(ARGON2_ENV))
    return PasswordHasher(time_cost=t, memory_cost=m, parallelism=p)


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user is unknown, so that costs what a wrong password does."""
    return _hasher().hash(secrets.token_hex(16))


class UserExistsError(GeoP2DDError, ValueError):
    """A new user whose name is taken."""


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` (at least :data:`MIN_PASSWORD` characters)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InputError("password too short", column="password",
                         expected=f"at least {MIN_PASSWORD} characters",
                         found=f"{len(password) if isinstance(password, str) else 0}")
    return _hasher().hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches the ``stored`` hash (False for no hash)."""
    try:
        return _hasher().verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def _audit(conn: Connection, name: str, action: str, actor: str | None, source: str,
           details: dict[str, Any] | None = None) -> None:
    record_event(conn, at=dt.datetime.now(dt.UTC), user=actor, source=source, kind="user",
                 object_id=name, action=action, details=details)


def _public(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "role": row.role, "agency": row.agency,
            "disabled": bool(row.disabled)}


def add_user(engine: Engine, name: str, role: str, *, agency: str | None = None,
             password: str | None = None, actor: str | None = None,
             source: str = "cli") -> dict[str, Any]:
    """Add a user; an ``editor`` must name the agency (OPD) whose records they edit.

    ``actor`` (who adds them) and ``source`` (``cli``, ``web``) go into the audit log.

    Raises
    ------
    InputError
        A bad name, role, agency or password (named in ``column``).
    UserExistsError
        The name is taken.
    """
    name = (name or "").strip()
    if not name or len(name) > 100 or any(c.isspace() for c in name):
        raise InputError("not a usable user name", column="name",
                         expected="1 to 100 characters without spaces", found=repr(name))
    if role not in ROLES:
        raise InputError("unknown role", column="role", expected=f"one of {', '.join(ROLES)}",
                         found=repr(role))
    agency = (agency or "").strip() or None
    if role == "editor" and agency is None:
        raise InputError("an editor edits the records of one agency (OPD)", column="agency",
                         expected="the agency's name", found="nothing")
    hashed = None if password is None else hash_password(password)
    try:
        with write_transaction(engine) as conn:
            conn.execute(insert(USERS).values(
                name=name, role=role, agency=agency, password_hash=hashed, disabled=False,
                created_at=dt.datetime.now(dt.UTC)))
            row = conn.execute(select(USERS).where(USERS.c.name == name)).one()
            _audit(conn, name, "added", actor, source,
                   {"role": role, "agency": agency, "password": hashed is not None})
    except IntegrityError:
        raise UserExistsError(f"a user {name!r} exists already") from None
    return _public(row)


def get_user(engine: Engine, name: str) -> dict[str, Any]:
    """A user (without the password hash); NotFoundError when unknown."""
    with read_transaction(engine) as conn:
        row = conn.execute(select(USERS).where(USERS.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no user {name!r}")
    return _public(row)


def list_users(engine: Engine) -> list[dict[str, Any]]:
    """Every user, by name (without password hashes)."""
    with read_transaction(engine) as conn:
        return [_public(r) for r in conn.execute(select(USERS).order_by(USERS.c.name))]


def disable_user(engine: Engine, name: str, *, actor: str | None = None,
                 source: str = "cli") -> None:
    """Disable a user: no sign-in, and their API tokens stop working."""
    with write_transaction(engine) as conn:
        done = conn.execute(update(USERS).where(USERS.c.name == name).values(disabled=True))
        if done.rowcount != 1:
            raise NotFoundError(f"no user {name!r}")
        _audit(conn, name, "disabled", actor, source)


def change_user(engine: Engine, name: str, *, role: str | None = None,
                agency: str | None = None, actor: str | None = None,
                source: str = "cli") -> dict[str, Any]:
    """Change a user's role and/or agency (``agency=""`` removes it); audited as
    ``role`` / ``agency`` events with the old and new values.

    Raises
    ------
    InputError
        An unknown role, or an editor left without an agency.
    NotFoundError
        No such user.
    """
    if role is not None and role not in ROLES:
        raise InputError("unknown role", column="role", expected=f"one of {', '.join(ROLES)}",
                         found=repr(role))
    with write_transaction(engine) as conn:
        row = conn.execute(select(USERS).where(USERS.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no user {name!r}")
        new_role = row.role if role is None else role
        new_agency = row.agency if agency is None else (agency.strip() or None)
        if new_role == "editor" and new_agency is None:
            raise InputError("an editor edits the records of one agency (OPD)",
                             column="agency", expected="the agency's name", found="nothing")
        conn.execute(update(USERS).where(USERS.c.id == row.id)
                     .values(role=new_role, agency=new_agency))
        if new_role != row.role:
            _audit(conn, name, "role", actor, source, {"changes": {"role": [row.role, new_role]}})
        if new_agency != row.agency:
            _audit(conn, name, "agency", actor, source,
                   {"changes": {"agency": [row.agency, new_agency]}})
        row = conn.execute(select(USERS).where(USERS.c.id == row.id)).one()
    return _public(row)


def authenticate(engine: Engine, name: str, password: str) -> dict[str, Any] | None:
    """The user when ``password`` is theirs and they are not disabled, else None."""
    with read_transaction(engine) as conn:
        row = conn.execute(select(USERS).where(USERS.c.name == name)).first()
    ok = verify_password(None if row is None else row.password_hash, password)
    if row is None or not ok or row.disabled:
        return None
    return _public(row)


def token_digest(token: str) -> str:
    """The SHA-256 (hex) under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(engine: Engine, name: str, *, actor: str | None = None,
              source: str = "cli") -> str:
    """A new API token for user ``name``: returned once, stored only as its SHA-256
    (the audit log records that one was issued, never the token)."""
    token = secrets.token_urlsafe(32)
    with write_transaction(engine) as conn:
        user_id = conn.execute(select(USERS.c.id).where(USERS.c.name == name)).scalar()
        if user_id is None:
            raise NotFoundError(f"no user {name!r}")
        conn.execute(insert(TOKENS).values(user_id=user_id, token_sha256=token_digest(token),
                                           created_at=dt.datetime.now(dt.UTC), revoked=False))
        _audit(conn, name, "token", actor, source)
    return token


def user_for_token(engine: Engine, token: str) -> dict[str, Any] | None:
    """The user an API token belongs to; None when unknown, revoked or the user disabled."""
    if not token:
        return None
    query = (select(USERS).join(TOKENS, TOKENS.c.user_id == USERS.c.id)
             .where(TOKENS.c.token_sha256 == token_digest(token), TOKENS.c.revoked.is_(False),
                    USERS.c.disabled.is_(False)))
    with read_transaction(engine) as conn:
        row = conn.execute(query).first()
    return None if row is None else _public(row)
