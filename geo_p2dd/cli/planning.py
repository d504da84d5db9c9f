"""Planning: ``plan`` (where to build next) and ``scenario`` (what-if site sets)."""

from __future__ import annotations

import json
import os

import click

from geo_p2dd.cli.common import (
    database,
    friendly,
    json_option,
    lang_option,
    project_option,
    project_path,
)


@click.command()
@project_option
@click.option("--region", default=None, metavar="CODE", help="Plan for this kecamatan/kabupaten.")
@click.option("--max-sites", type=click.IntRange(min=0), default=None, help="At most N new sites.")
@click.option("--budget", type=click.FloatRange(min=0), default=None, metavar="IDR",
              help="At most this total cost (capex + horizon x opex).")
@click.option("--technologies", default="starlink,vsat,bts,wifi", show_default=True,
              help="Kinds of site to consider, comma-separated.")
@click.option("--horizon-years", type=click.IntRange(min=0), default=None,
              help="Years of opex counted (default: [planning] horizon_years).")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Solver time limit in seconds (default: [planning] time_limit_s).")
@json_option("Print the plan as JSON.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the plan as .xlsx or .gpkg.")
@click.option("--export-instance", type=click.Path(file_okay=False), default=None,
              metavar="DIR", help="Write the exact problem solved as CSV files.")
@lang_option()
@click.option("--save-scenario", default=None, metavar="NAME",
              help="Also save the chosen sites as a scenario (prints its id on stderr).")
@click.option("--owner", default=None, help="Owner of the saved scenario (default: $USER).")
@friendly
def plan(project_dir, region, max_sites, budget, technologies, horizon_years, time_limit,
         as_json, out, export_instance, lang, save_scenario, owner) -> None:
    """Where to build next: the sites that serve the most unserved people and public
    facilities within --max-sites and/or --budget (installed and pipeline sites locked
    in). A proposal (rencana usulan), never written into the register.

    \b
    Example:
      geo-p2dd plan --project data/sample --max-sites 5 --out plan.xlsx
    """
    from geo_p2dd.errors import InputError
    from geo_p2dd.planning.optimise import export_instance as write_instance
    from geo_p2dd.planning.output import write_plan
    from geo_p2dd.planning.plan import PLAN_LABEL, make_plan
    from geo_p2dd.project import Project

    if max_sites is None and budget is None:
        raise InputError("a plan needs a limit", expected="--max-sites N and/or --budget IDR",
                         found="neither")
    result = make_plan(Project(project_path(project_dir)), region=region, max_sites=max_sites,
                       budget=budget, technologies=technologies, horizon_years=horizon_years,
                       time_limit_s=time_limit)
    if out:
        write_plan(result, out, lang=lang)
    if export_instance:
        write_instance(result.instance, export_instance)
    if save_scenario:
        from geo_p2dd.planning.scenarios import save_plan

        with database(project_dir) as engine:
            sid = save_plan(engine, result, save_scenario,
                            owner or os.environ.get("USER") or "cli")
        click.echo(f"scenario {sid}: {save_scenario}", err=True)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        return
    click.echo(f"{PLAN_LABEL}")
    click.echo(f"{'#':>3} {'kind':<9}{'village':<26}{'lon':>11}{'lat':>10}{'people':>9}"
               f"{'facil.':>7}{'cost (IDR)':>17}")
    for r in result.sites.itertuples():
        click.echo(f"{r.rank:>3} {r.kind:<9}{(r.village_kode + ' ' + r.village)[:25]:<26}"
                   f"{r.lon:>11.5f}{r.lat:>10.5f}{r.people_new:>9,.0f}{r.facilities_new:>7}"
                   f"{r.cost_idr:>17,.0f}")
    t = result.totals
    click.echo(f"total: {t['sites']} sites, {t['people_new']:,.0f} people and "
               f"{t['facilities_new']} public facilities newly served of "
               f"{t['people_unserved_pipeline']:,.0f} unserved, {t['cost_idr']:,.0f} IDR over "
               f"{t['horizon_years']} years")
    s = result.solution
    click.echo(f"solver: {s.solver} ({s.status}, gap {s.gap:.2%}); objective {s.objective:,.1f}"
               f" vs greedy {result.greedy.objective:,.1f}")
    for ch in result.changes:
        click.echo(f"  {ch['kode']} {ch['nama']}: {ch['from']} -> {ch['to']}")


@click.group()
def scenario() -> None:
    """Scenarios: named sets of hypothetical sites (never part of the register).

    \b
    Example:
      geo-p2dd scenario create --project data/sample "Lima menara"
      geo-p2dd scenario add-site --project data/sample 1 --kind bts --lon 114.1 --lat 0.8
    """


def _whatif(project_dir):
    """The what-if model over the project's current state (pipeline locked in)."""
    from geo_p2dd.planning.demand import load_baseline
    from geo_p2dd.planning.whatif import WhatIf
    from geo_p2dd.project import Project

    return WhatIf(load_baseline(Project(project_path(project_dir))))


def _echo_summary(project_dir, engine, scenario_id: int) -> None:
    """Print a scenario's summary (now -> scenario) as JSON."""
    from geo_p2dd.planning import scenarios as sc

    click.echo(json.dumps(sc.summary(engine, scenario_id, _whatif(project_dir)), indent=2,
                          ensure_ascii=False))


@scenario.command(name="create")
@project_option
@click.argument("name")
@click.option("--owner", default=None, help="Owner (default: $USER).")
@friendly
def scenario_create(project_dir, name, owner) -> None:
    """Create a scenario; prints its id."""
    from geo_p2dd.planning import scenarios as sc

    owner = owner or os.environ.get("USER") or "cli"
    with database(project_dir) as engine:
        click.echo(sc.create_scenario(engine, name, owner))


@scenario.command(name="list")
@project_option
@click.option("--owner", default=None)
@friendly
def scenario_list(project_dir, owner) -> None:
    """List scenarios as JSON."""
    from geo_p2dd.planning import scenarios as sc

    with database(project_dir) as engine:
        found = sc.list_scenarios(engine, owner)
    click.echo(json.dumps(found, indent=2, ensure_ascii=False))


@scenario.command(name="show")
@project_option
@click.argument("scenario_id", type=int)
@friendly
def scenario_show(project_dir, scenario_id) -> None:
    """Now -> scenario as JSON: villages changing class, people newly served, cost."""
    with database(project_dir) as engine:
        _echo_summary(project_dir, engine, scenario_id)


@scenario.command(name="compare")
@project_option
@click.argument("scenario_ids", type=int, nargs=-1, required=True)
@json_option("Print the rows as JSON.")
@friendly
def scenario_compare(project_dir, scenario_ids, as_json) -> None:
    """Scenarios side by side: people newly served, cost, villages changing class."""
    from geo_p2dd.planning import scenarios as sc

    whatif = _whatif(project_dir)
    with database(project_dir) as engine:
        rows = sc.compare(engine, list(scenario_ids), whatif)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    click.echo(f"{'id':>4} {'name':<24}{'sites':>6}{'people new':>12}{'facilities':>11}"
               f"{'villages':>9}{'cost (IDR)':>19}")
    for r in rows:
        click.echo(f"{r['id']:>4} {r['name'][:23]:<24}{r['sites']:>6}"
                   f"{r['people_newly_served']:>12,.0f}{r['facilities_newly_served']:>11}"
                   f"{r['villages_changing_class']:>9}{r['cost_idr']:>19,.0f}")


@scenario.command(name="add-site")
@project_option
@click.argument("scenario_id", type=int)
@click.option("--kind", required=True, type=click.Choice(["starlink", "vsat", "bts", "wifi"]))
@click.option("--lon", type=float, required=True)
@click.option("--lat", type=float, required=True)
@click.option("--technology", default=None)
@click.option("--height-m", type=float, default=None)
@click.option("--power-dbm", type=float, default=None)
@click.option("--frequency-mhz", type=float, default=None)
@click.option("--service-radius-m", type=float, default=None)
@friendly
def scenario_add_site(project_dir, scenario_id, **fields) -> None:
    """Add a hypothetical site; prints the scenario's summary."""
    from geo_p2dd.planning import scenarios as sc

    with database(project_dir) as engine:
        sc.add_site(engine, scenario_id, **{k: v for k, v in fields.items() if v is not None})
        _echo_summary(project_dir, engine, scenario_id)


@scenario.command(name="move-site")
@project_option
@click.argument("scenario_id", type=int)
@click.argument("site_id", type=int)
@click.option("--lon", type=float, required=True)
@click.option("--lat", type=float, required=True)
@friendly
def scenario_move_site(project_dir, scenario_id, site_id, lon, lat) -> None:
    """Move a site of a scenario; prints the scenario's summary."""
    from geo_p2dd.planning import scenarios as sc

    with database(project_dir) as engine:
        sc.move_site(engine, scenario_id, site_id, lon, lat)
        _echo_summary(project_dir, engine, scenario_id)


@scenario.command(name="delete-site")
@project_option
@click.argument("scenario_id", type=int)
@click.argument("site_id", type=int)
@friendly
def scenario_delete_site(project_dir, scenario_id, site_id) -> None:
    """Remove a site from a scenario."""
    from geo_p2dd.planning import scenarios as sc

    with database(project_dir) as engine:
        sc.delete_site(engine, scenario_id, site_id)


@scenario.command(name="delete")
@project_option
@click.argument("scenario_id", type=int)
@friendly
def scenario_delete(project_dir, scenario_id) -> None:
    """Delete a scenario and its sites."""
    from geo_p2dd.planning import scenarios as sc

    with database(project_dir) as engine:
        sc.delete_scenario(engine, scenario_id)
