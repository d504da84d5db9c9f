"""The ``geo-p2dd`` command line.

Exit codes: 0 success, 1 bad input (one readable paragraph on stderr), 2 usage error.

One command group per module; :func:`main` is the entry point
(``[project.scripts]``) and gathers them:

:mod:`~geo_p2dd.cli.common`
    the ``--project`` option and the error handling every command shares.
:mod:`~geo_p2dd.cli.projects`
    ``sample``, ``init``, ``import``, ``info``: build and inspect a project.
:mod:`~geo_p2dd.cli.analysis`
    ``analyze``, ``check``, ``explain``: the analysis and questions about its results.
:mod:`~geo_p2dd.cli.serve`
    ``serve``: the web app under waitress (:func:`~geo_p2dd.cli.serve.server_options`).
:mod:`~geo_p2dd.cli.export`
    ``export``: gap layers in every common GIS format.
:mod:`~geo_p2dd.cli.reports`
    ``report``, ``register``, ``changes``: printable summaries and the register.
:mod:`~geo_p2dd.cli.config`
    ``config check``: the settings of a project.
:mod:`~geo_p2dd.cli.users`
    ``user``: people who sign in to the web app and their API tokens.
:mod:`~geo_p2dd.cli.planning`
    ``plan`` and ``scenario``: where to build next, what-if site sets.
"""

from __future__ import annotations

import click

from geo_p2dd.cli import (
    analysis,
    config,
    export,
    planning,
    projects,
    reports,
    serve,
    users,
)
from geo_p2dd.cli.serve import server_options

__all__ = ["main", "server_options"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(package_name="geo-p2dd")
def main(debug: bool) -> None:
    """geo_p2dd: village connectivity gaps for Indonesia's P2DD programme.

    Commands that change a project wait for another change in progress (up to
    GEO_P2DD_LOCK_TIMEOUT seconds, default 600) and say so.

    \b
    Example:
      geo-p2dd sample data/sample
      geo-p2dd analyze --project data/sample
      geo-p2dd serve --project data/sample
    """
    from geo_p2dd.lock import set_wait_reporter

    set_wait_reporter(lambda message: click.echo(message, err=True))


for _command in (projects.sample, projects.init, projects.import_, projects.info,
                 analysis.analyze, analysis.check, analysis.explain, serve.serve, export.export,
                 reports.report, reports.register, reports.changes, config.config_group,
                 users.user, planning.plan, planning.scenario):
    main.add_command(_command)
