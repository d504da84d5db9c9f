"""``user``: people who sign in to the web app, and their API tokens."""

from __future__ import annotations

import json
import sys

import click

from geo_p2dd.cli.common import database, friendly, json_option, project_option

#: who the admins' audit log records a change of an account as
actor_option = click.option("--user", "actor", default=None, metavar="NAME",
                            help="Who the audit log records for this change "
                                 "(default: the OS user).")


def _actor(actor: str | None) -> str | None:
    from geo_p2dd.imports import import_user

    return import_user(actor)


@click.group(name="user")
def user() -> None:
    """Users of the web register and their API tokens (the project's database, or
    $GEO_P2DD_DATABASE_URL).

    \b
    Example:
      printf '%s\\n' "$PASSWORD" | geo-p2dd user add --project data/sample ana \\
          --role editor --agency Diskominfo --password-stdin
      geo-p2dd user token --project data/sample ana
    """


@user.command(name="add")
@project_option
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["admin", "editor", "reviewer", "viewer"]),
              help="admin: users and all records; editor: the records of one agency; "
                   "reviewer, viewer: read.")
@click.option("--agency", default=None, metavar="OPD", help="The agency an editor records for.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input (else the user "
                   "has no password and uses API tokens only).")
@actor_option
@friendly
def user_add(project_dir, name, role, agency, password_stdin, actor) -> None:
    """Add a user who signs in to the web register.

    \b
    Example:
      printf '%s\\n' "$PASSWORD" | geo-p2dd user add --project data/sample budi \\
          --role admin --password-stdin
    """
    from geo_p2dd.registry.accounts import add_user

    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    with database(project_dir) as engine:
        added = add_user(engine, name, role, agency=agency, password=password,
                         actor=_actor(actor), source="cli")
    where = f" of {added['agency']}" if added["agency"] else ""
    click.echo(f"added {added['name']}: {added['role']}{where}"
               + ("" if password is not None else " (no password: API tokens only)"))


@user.command(name="list")
@project_option
@json_option("Machine-readable output.")
@friendly
def user_list(project_dir, as_json) -> None:
    """List the users: name, role, agency and whether they are disabled.

    \b
    Example:
      geo-p2dd user list --project data/sample
    """
    from geo_p2dd.registry.accounts import list_users

    with database(project_dir) as engine:
        users = list_users(engine)
    if as_json:
        click.echo(json.dumps(users, indent=2, ensure_ascii=False))
        return
    for u in users:
        click.echo("\t".join([u["name"], u["role"], u["agency"] or "-",
                              "disabled" if u["disabled"] else "active"]))


@user.command(name="disable")
@project_option
@click.argument("name")
@actor_option
@friendly
def user_disable(project_dir, name, actor) -> None:
    """Disable a user: no more sign-in, and their API tokens stop working.

    \b
    Example:
      geo-p2dd user disable --project data/sample budi
    """
    from geo_p2dd.registry.accounts import disable_user

    with database(project_dir) as engine:
        disable_user(engine, name, actor=_actor(actor), source="cli")
    click.echo(f"disabled {name}")


@user.command(name="set")
@project_option
@click.argument("name")
@click.option("--role", default=None, type=click.Choice(["admin", "editor", "reviewer", "viewer"]),
              help="The new role.")
@click.option("--agency", default=None, metavar="OPD",
              help="The new agency (an empty text removes it).")
@actor_option
@friendly
def user_set(project_dir, name, role, agency, actor) -> None:
    """Change a user's role or agency (recorded in the admins' audit log).

    \b
    Example:
      geo-p2dd user set --project data/sample ana --role editor --agency DKP
    """
    from geo_p2dd.registry.accounts import change_user

    with database(project_dir) as engine:
        changed = change_user(engine, name, role=role, agency=agency, actor=_actor(actor),
                              source="cli")
    where = f" of {changed['agency']}" if changed["agency"] else ""
    click.echo(f"{changed['name']}: {changed['role']}{where}")


@user.command(name="token")
@project_option
@click.argument("name")
@actor_option
@friendly
def user_token(project_dir, name, actor) -> None:
    """Make a new API token for a user and print it on the last line (it is stored
    hashed and cannot be shown again). Send it as "Authorization: Bearer TOKEN".

    \b
    Example:
      geo-p2dd user token --project data/sample ana
    """
    from geo_p2dd.registry.accounts import new_token

    with database(project_dir) as engine:
        token = new_token(engine, name, actor=_actor(actor), source="cli")
    click.echo(f"new API token for {name} (shown once; stored only as its SHA-256):")
    click.echo(token)
