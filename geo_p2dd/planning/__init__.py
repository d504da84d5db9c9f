"""Planning: where to build next within a budget, and what-if scenarios.

The stage after the analysis (it reads the analysis outputs stored in the
project, never the other way round). Modules, one concept each:

- :mod:`~geo_p2dd.planning.costs`: the technologies a plan may choose and their
  cost over a horizon (``[costs]`` of ``project.toml``);
- :mod:`~geo_p2dd.planning.demand`: who is still unserved once the installed and
  pipeline sites are counted (locked in), weighted by ``[planning]``;
- :mod:`~geo_p2dd.planning.candidates`: where a site could go (settlements and
  public facilities; DEM high ground for towers);
- :mod:`~geo_p2dd.planning.reach`: which locations a site would serve, from the
  analysis's own models (Hata/COST-231 + DEM line of sight, service radius);
- :mod:`~geo_p2dd.planning.optimise`: the budgeted maximum-coverage problem
  solved exactly with HiGHS, a greedy baseline, the instance as CSV;
- :mod:`~geo_p2dd.planning.plan`: a plan for a project (``geo-p2dd plan``);
- :mod:`~geo_p2dd.planning.output`: a plan as XLSX or GeoPackage, labelled as a
  proposal, never as the register;
- :mod:`~geo_p2dd.planning.scenarios`: named sets of hypothetical sites in the
  project's database;
- :mod:`~geo_p2dd.planning.whatif`: now -> scenario, recomputing only what a
  changed site reaches.
"""
