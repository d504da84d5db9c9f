"""``config``: check the settings of a project (its project.toml)."""

from __future__ import annotations

import json

import click

from geo_p2dd.cli.common import friendly, json_option, project_option, project_path


@click.group(name="config")
def config_group() -> None:
    """Check the settings of a project (its project.toml).

    \b
    Example:
      geo-p2dd config check --project data/sample
    """


@config_group.command(name="check")
@project_option
@json_option("Print the effective settings as JSON.")
@friendly
def config_check(project_dir, as_json) -> None:
    """Validate project.toml: print "ok" and the effective settings (defaults
    included), or every problem with its key, value and what is allowed (exit 1).

    \b
    Example:
      geo-p2dd config check --project data/sample
    """
    from geo_p2dd.config import describe
    from geo_p2dd.project import CONFIG_NAME, Project

    project = Project(project_path(project_dir))  # a ConfigError lists every problem
    path = project.path / CONFIG_NAME
    if as_json:
        click.echo(json.dumps({"ok": True, "file": str(path),
                               "settings": project.settings.to_dict()}, indent=2,
                              ensure_ascii=False))
        return
    click.echo(f"ok: {path}")
    for line in describe(project.settings):
        click.echo(f"  {line}")
