"""Gap classes of real Mahakam Ulu with a messy agency register, for any code tree.

Not a timing: the class counts the issue asks to compare before and after. The
register (36 rows, Indonesian headers, tests/mahakam_register.py) is written on the
real boundaries and GHS-POP of ../shared/data. Run it once per tree, e.g.::

    PYTHONPATH=/work/main .venv/bin/python bench/real_register_classes.py   # before
    PYTHONPATH=$PWD       .venv/bin/python bench/real_register_classes.py   # after
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from mahakam_register import INSTALLED, write_register  # noqa: E402

import geo_p2dd  # noqa: E402
from geo_p2dd.analysis import GAP_ORDER, analyze_project  # noqa: E402
from geo_p2dd.imports import init_project  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def main() -> None:
    files = {"villages": DATA / "boundaries/mahakam_ulu.gpkg",
             "population": DATA / "population/mahakam_ulu_census2010.csv",
             "population_raster": DATA / "population/ghs_pop_1km_kalimantan_timur.tif",
             "towers": DATA / "towers/opencellid_mcc510_subset.csv",
             "dem": DATA / "terrain/mahakam_ulu_elevation_5arcmin.tif"}
    tmp = Path(tempfile.mkdtemp())
    write_register(tmp / "register.csv", files["villages"], files["population_raster"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        project, reports = init_project(tmp / "p", region="64.11",
                                        sites=tmp / "register.csv", **files)
    sites = next(r for r in reports if r.kind == "sites")
    print(f"code {Path(geo_p2dd.__file__).parent}; register rows added {sites.added}, "
          f"rejected {len(sites.rejected)}")
    v = analyze_project(project).villages
    for col in ("gap_class", "gap_class_planned", "gap_class_proposed"):
        if col in v.columns:
            print(f"{col:<20}", {c: int((v[col] == c).sum()) for c in GAP_ORDER})
    inst = v.set_index("kode").loc[sorted({row[0] for row in INSTALLED})]
    print(f"in programme {int(v['in_programme'].sum())}; people unserved now "
          f"{v['people_unserved'].sum():,.0f}, pipeline {v['people_unserved_planned'].sum():,.0f}")
    no_plan = int(inst["reasons_id"].str.contains("Belum ada rencana").sum())
    print(f"13 kampung with an installed site: {inst['gap_class'].value_counts().to_dict()}; "
          f"'Belum ada rencana' in {no_plan}; largest distance to service "
          f"{inst['dist_service_km'].max():.1f} km")


if __name__ == "__main__":
    main()
