"""What every ``geo-p2dd`` command shares: the ``--project`` option and the error handling.

Exit codes: 0 success, 1 bad input (one readable paragraph on stderr), 2 usage error.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import warnings
from pathlib import Path

import click

from geo_p2dd.errors import GeoP2DDError

PROJECT_HELP = "Project directory (default: $GEO_P2DD_PROJECT, else the current directory)."
LANGS = ["id", "en"]  # as geo_p2dd.i18n.LANGS, without loading Babel for every command


def project_path(value: str | None) -> Path:
    """The project directory: ``--project``, else $GEO_P2DD_PROJECT, else the current one."""
    return Path(value or os.environ.get("GEO_P2DD_PROJECT") or ".")


def project_option(f):
    """The ``--project DIR`` option, passed to the command as ``project_dir``."""
    return click.option("--project", "project_dir", default=None, metavar="DIR",
                        help=PROJECT_HELP)(f)


def json_option(help: str):
    """The ``--json`` flag, passed to the command as ``as_json``."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def lang_option(default: str = "id", help: str | None = None):
    """The ``--lang id|en`` option (its default shown in the help)."""
    return click.option("--lang", type=click.Choice(LANGS), default=default, show_default=True,
                        help=help)


@contextlib.contextmanager
def database(project_dir: str | None):
    """The project's register database (or $GEO_P2DD_DATABASE_URL's), disposed on leaving."""
    from geo_p2dd.registry.db import open_database

    engine = open_database(project_path(project_dir))
    try:
        yield engine
    finally:
        engine.dispose()


def friendly(f):
    """Run a command, turning our errors into one paragraph and exit code 1."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        ctx = click.get_current_context()
        debug = ctx.find_root().params.get("debug", False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = f(*args, **kwargs)
            except GeoP2DDError as exc:
                _print_warnings(caught)
                if debug:
                    raise
                click.echo(f"error: {exc}", err=True)
                sys.exit(1)
            except (OSError, MemoryError) as exc:
                _print_warnings(caught)
                if debug:
                    raise
                click.echo(f"error: {exc.__class__.__name__}: {exc}", err=True)
                sys.exit(1)
            except Exception as exc:  # a bug of ours: say so in one line, not a traceback
                _print_warnings(caught)
                if debug:
                    raise
                click.echo(f"error: unexpected {exc.__class__.__name__}: {exc} (this is a bug "
                           "in geo_p2dd; run with --debug for the traceback and report it)",
                           err=True)
                sys.exit(1)
        _print_warnings(caught)
        return result

    return wrapper


def _print_warnings(caught) -> None:
    """Print each distinct geometry repair warning once, on stderr."""
    from geo_p2dd.io.vector import RepairWarning

    seen = set()
    for w in caught:
        if issubclass(w.category, RepairWarning) and str(w.message) not in seen:
            seen.add(str(w.message))
            click.echo(f"repaired: {w.message}", err=True)

