"""Figures for printable summaries of a kabupaten or kecamatan (no HTML here).

Everything a report shows is computed here from the stored analysis results
(``village_results``, ``area_results``) and the ``sites`` layer, so the web page,
the PDF and a notebook user get the same numbers:

- :func:`headline`: kampung per gap class, people and public facilities
  unserved, share of people with 4G, sites per status;
- :func:`top_gaps`: the ranked gaps with their reasons;
- :func:`kecamatan_overview` and :func:`kecamatan_tables`: one row per
  kecamatan, and one table of kampung per kecamatan;
- :func:`register_by_agency`: the infrastructure register per agency (OPD) and
  status ("sudah / sedang / akan dilaksanakan");
- :func:`provenance` and :func:`method`: where the data came from and the
  thresholds and weights the analysis used.

:func:`build_summary` puts them together for one region code; its ``extra`` adds the
field evidence and checks (:mod:`geo_p2dd.report.appendix`), the budget table and the
recommended next sites (:mod:`geo_p2dd.report.recommendations`, a plan's proposal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio

from geo_p2dd.codes import region_sql
from geo_p2dd.errors import NotFoundError
from geo_p2dd.i18n import N_, gettext
from geo_p2dd.layers import normalise_code
from geo_p2dd.project import Project
from geo_p2dd.schema import GAP_CLASSES, SITE_STATUS
from geo_p2dd.style import GAP_ORDER, STATUS_ORDER

LEVELS = {1: "provinsi", 2: "kabupaten", 3: "kecamatan"}

# The words Indonesian reports use for the register's statuses.
STATUS_PHASE = {
    "installed": N_("Done"),
    "in_progress": N_("Under way"),
    "planned": N_("Planned"),
    "proposed": N_("Proposed"),
    "damaged": N_("Damaged"),
    "inactive": N_("Inactive"),
}
NO_AGENCY = N_("(agency not given)")

SOURCE_LABELS = {
    "villages": N_("Village boundaries"),
    "kecamatan": N_("Kecamatan boundaries"),
    "kabupaten": N_("Kabupaten boundaries"),
    "population_table": N_("Population per village"),
    "population": N_("Population grid"),
    "dem": N_("Elevation (DEM)"),
    "locations": N_("Settlements and facilities"),
    "sites": N_("Infrastructure register / towers"),
    "reports": N_("Field signal reports and measurements"),
}


def phase_label(status: str, lang: str = "id") -> str:
    """"Sudah dilaksanakan" / "Done" ... for a site status id."""
    return gettext(STATUS_PHASE[status], lang)


@dataclass(frozen=True)
class Region:
    """A kabupaten or kecamatan (or province) of the project."""

    kode: str
    nama: str
    level: str
    parent: str | None = None  # kabupaten name of a kecamatan

    def title(self) -> str:
        """The name as printed: "Kecamatan Long Bagun", "Kabupaten Mahakam Ulu"."""
        prefix = {"kecamatan": "Kecamatan", "kabupaten": "Kabupaten",
                  "provinsi": "Provinsi"}[self.level]
        name = str(self.nama)
        known = ("kabupaten", "kota", "kecamatan", "distrik", "provinsi")
        return name if name.lower().startswith(known) else f"{prefix} {name}"


def region_level(code: str) -> str | None:
    """"kabupaten" for ``64.11``, "kecamatan" for ``64.11.01``, None for villages."""
    return LEVELS.get(len(normalise_code(code).split(".")))


def in_region(codes: pd.Series, region: str) -> pd.Series:
    """True for codes at or below ``region`` (``64.11`` -> ``64.11.*``)."""
    from geo_p2dd import codes as kode

    return kode.in_region(codes, region)


def list_regions(results: pd.DataFrame, areas: pd.DataFrame | None = None) -> list[Region]:
    """The kabupaten and kecamatan of an analysed project, kabupaten first, by code."""
    out = []
    # one grouped pass per level (a province of a national project has ~100 kecamatan;
    # areas hold every region of Indonesia): names from the areas, else the first named row
    named = _area_names(areas)
    for level, key, name_col in (("kabupaten", "kabupaten_kode", "kabupaten"),
                                 ("kecamatan", "kecamatan_kode", "kecamatan")):
        if key not in results.columns:
            continue
        groups = results.groupby(key, sort=True)
        first = {col: groups[col].first().to_dict()
                 for col in (name_col, "kabupaten") if col in results.columns}
        for code in groups.indices:
            nama = named.get((level, str(code)))
            if nama is None or pd.isna(nama):
                nama = first.get(name_col, {}).get(code)
            parent = first["kabupaten"].get(code) if level == "kecamatan" \
                and "kabupaten" in first else None
            out.append(Region(str(code), _name(nama, str(code)), level,
                              None if parent is None or pd.isna(parent) else str(parent)))
    return out


def _name(nama, code: str) -> str:
    """A region's name as printed: its code when it has none."""
    return str(nama) if nama is not None and not pd.isna(nama) else code


def _area_names(areas: pd.DataFrame | None) -> dict[tuple[str, str], object]:
    """``{(level, kode): nama}`` of the areas table, the first row of each."""
    if areas is None or not len(areas):
        return {}
    first = areas.drop_duplicates(["level", "kode"])
    return dict(zip(zip(first["level"].tolist(), first["kode"].tolist(), strict=True),
                    first["nama"].tolist(), strict=True))


def _region(results, areas, code, level, key, name_col) -> Region:
    named = areas if isinstance(areas, dict) else _area_names(areas)
    nama = named.get((level, code))
    members = results[results[key] == code]
    if (nama is None or pd.isna(nama)) and name_col in results.columns:
        names = members[name_col].dropna()
        nama = names.iloc[0] if len(names) else None
    parent = None
    if level == "kecamatan" and "kabupaten" in results.columns:
        names = members["kabupaten"].dropna()
        parent = str(names.iloc[0]) if len(names) else None
    return Region(code, str(nama) if nama is not None and not pd.isna(nama) else code, level,
                  parent)


def resolve_region(results: pd.DataFrame, areas: pd.DataFrame | None, code: str) -> Region:
    """The region ``code`` names; NotFoundError when the project has no such region."""
    code = normalise_code(str(code).strip())
    level = region_level(code)
    inside = in_region(results["kode"], code)
    if level is None or not inside.any():
        choices = list_regions(results, areas)
        shown = ", ".join(f"{r.kode} ({r.nama})" for r in choices[:8])
        raise NotFoundError(f"no kabupaten or kecamatan with code {code!r} in this project; "
                            f"choose one of: {shown}")
    key = {"kabupaten": "kabupaten_kode", "kecamatan": "kecamatan_kode"}.get(level)
    if level == "provinsi" or key not in results.columns:
        return Region(code, code, level)
    return _region(results, areas, code, level, key, level)


def read_region_results(project: Project, region: str) -> pd.DataFrame:
    """The ``village_results`` rows of ``region`` (and below) only, filtered as they are read.

    A province of the national project reads ~1,000 of 83,000 rows. When no row
    matches (or ``region`` is not a province, kabupaten or kecamatan code), all rows are
    read, so :func:`resolve_region` can name the regions the project has.

    Raises
    ------
    NotFoundError
        The project has not been analysed.
    """
    code = normalise_code(str(region).strip())
    where = region_sql(code) if region_level(code) is not None else None
    if where is not None and project.has_layer("village_results"):
        rows = pyogrio.read_dataframe(project.layer_path("village_results"),
                                      layer="village_results", read_geometry=False,
                                      use_arrow=True, where=where)
        if len(rows):
            return rows
    return project.read_table("village_results")


def read_summary_inputs(project: Project, region: str, results: pd.DataFrame | None = None,
                        areas: pd.DataFrame | None = None, sites: pd.DataFrame | None = None,
                        ) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """``(results, areas, sites)`` of a summary or map: those given, the others read
    (of the results only ``region``'s rows, :func:`read_region_results`)."""
    if results is None:
        results = read_region_results(project, region)
    if areas is None:
        areas = project.read_table("area_results", required=False)
    if sites is None:
        sites = project.read_layer("sites", required=False)
    return results, areas, sites


# -- figures ---------------------------------------------------------------------------------

def _int(value) -> int:
    return int(round(float(value))) if value is not None and np.isfinite(float(value)) else 0


def _share(part: float, whole: float) -> float:
    return float(part) / float(whole) if whole and float(whole) > 0 else float("nan")


def headline(villages: pd.DataFrame) -> dict:
    """The headline figures of a set of analysed villages (``village_results`` rows).

    People are the people located in settlements (the analysis' population);
    facilities are public facilities (schools, health posts, village offices).

    Returns
    -------
    dict
        ``villages``; ``classes`` {gap class: kampung}; ``classes_planned`` (the same
        with the sites in progress and planned); ``in_programme``;
        ``people``, ``people_unserved``, ``people_unserved_planned``,
        ``people_4g``, ``people_public_access`` (within a public-access site's radius;
        not mobile coverage) (rounded to whole people) and ``share_unserved``,
        ``share_4g`` (0..1, NaN without people); ``facilities``,
        ``facilities_unserved`` and ``school_unserved``, ``health_unserved``,
        ``village_office_unserved``; ``sites`` {status: count}.
    """
    v = villages
    planned = "gap_class_planned" if "gap_class_planned" in v.columns else "gap_class"
    people = float(v["people_located"].sum())
    out = {
        "villages": int(len(v)),
        "classes": {c: int((v["gap_class"] == c).sum()) for c in GAP_ORDER},
        "classes_planned": {c: int((v[planned] == c).sum()) for c in GAP_ORDER},
        "in_programme": int(v["in_programme"].astype(bool).sum()),
        "people": _int(people),
        "people_unserved": _int(v["people_unserved"].sum()),
        "people_unserved_planned": _int(v["people_unserved_planned"].sum()),
        "people_4g": _int(v["people_4g"].sum()),
        # public internet access, kept apart from mobile coverage
        "people_public_access": _int(v["people_public_access"].sum())
        if "people_public_access" in v.columns else 0,
        "share_unserved": _share(v["people_unserved"].sum(), people),
        "share_4g": _share(v["people_4g"].sum(), people),
        "facilities": int(v["facilities"].sum()),
        "facilities_unserved": int(v["facilities_unserved"].sum()),
        "sites": {s: int(v[f"sites_{s}"].sum()) for s in STATUS_ORDER},
    }
    for kind in ("school", "health", "village_office"):
        col = f"{kind}_unserved"
        out[col] = int(v[col].sum()) if col in v.columns else 0
    return out


def top_gaps(villages: pd.DataFrame, n: int = 10, lang: str = "id") -> pd.DataFrame:
    """The ``n`` largest gaps (served villages left out), rank 1 first.

    Columns: ``rank`` (within the given villages), ``rank_project`` (the stored
    rank), ``kode``, ``nama``, ``kecamatan``, ``gap_class``, ``score``,
    ``people``, ``people_unserved``, ``facilities_unserved``, ``no_4g_share``,
    ``in_programme``, ``reasons`` (in ``lang``).
    """
    v = villages.sort_values(["rank", "kode"]).reset_index(drop=True)
    v = v.assign(region_rank=np.arange(1, len(v) + 1))
    gaps = v[v["gap_class"] != "served"].head(n)
    reasons = gaps["reasons_en" if lang == "en" else "reasons_id"].fillna("")
    return pd.DataFrame({
        "rank": gaps["region_rank"].astype(int),
        "rank_project": gaps["rank"].astype(int),
        "kode": gaps["kode"], "nama": gaps["nama"],
        "kecamatan": gaps.get("kecamatan", pd.Series("", index=gaps.index)).fillna(""),
        "gap_class": gaps["gap_class"], "score": gaps["score"].astype(float),
        "people": gaps["people_located"].round().astype(int),
        "people_unserved": gaps["people_unserved"].round().astype(int),
        "facilities_unserved": gaps["facilities_unserved"].astype(int),
        "no_4g_share": gaps["no_4g_share"].astype(float),
        "in_programme": gaps["in_programme"].astype(bool),
        "reasons": [r.split("; ") if r else [] for r in reasons],
    }).reset_index(drop=True)


def village_rows(villages: pd.DataFrame) -> pd.DataFrame:
    """One printable row per village, worst gap first (by the stored rank)."""
    v = villages.sort_values(["rank", "kode"])
    share_4g = v["people_4g"] / v["people_located"].where(v["people_located"] > 0)
    return pd.DataFrame({
        "rank": np.arange(1, len(v) + 1), "rank_project": v["rank"].astype(int),
        "kode": v["kode"], "nama": v["nama"], "gap_class": v["gap_class"],
        "gap_class_planned": v["gap_class_planned"],
        "people": v["people_located"].round().astype(int),
        "people_unserved": v["people_unserved"].round().astype(int),
        "share_4g": share_4g.astype(float),
        "facilities": v["facilities"].astype(int),
        "facilities_unserved": v["facilities_unserved"].astype(int),
        **{f"sites_{s}": v[f"sites_{s}"].astype(int) for s in STATUS_ORDER},
        "score": v["score"].astype(float),
    }).reset_index(drop=True)


@dataclass
class KecamatanTable:
    """The kampung of one kecamatan, with its totals."""

    region: Region
    totals: dict
    rows: pd.DataFrame


def kecamatan_overview(villages: pd.DataFrame, areas: pd.DataFrame | None = None
                       ) -> pd.DataFrame:
    """One row per kecamatan: kampung per class, people, facilities and sites.

    The figures are :func:`headline`'s of each kecamatan's villages, summed in one
    grouped pass (a province of a national project has ~100 kecamatan).
    """
    regions = [r for r in list_regions(villages, areas) if r.level == "kecamatan"]
    if not regions:
        return pd.DataFrame()
    sums = ["people_located", "people_unserved", "people_4g", "facilities",
            "facilities_unserved", *(f"sites_{s}" for s in STATUS_ORDER)]
    groups = villages.groupby("kecamatan_kode", sort=True)
    total = groups[sums].sum()
    size = groups.size()
    classes = pd.crosstab(villages["kecamatan_kode"], villages["gap_class"]) \
        .reindex(columns=list(GAP_ORDER), fill_value=0)
    rows = []
    for region in regions:
        t = total.loc[region.kode]
        people = float(t["people_located"])
        rows.append({"kode": region.kode, "nama": region.nama,
                     "villages": int(size.loc[region.kode]),
                     **{f"n_{c}": int(classes.at[region.kode, c]) if region.kode in
                        classes.index else 0 for c in GAP_ORDER},
                     "people": _int(people), "people_unserved": _int(t["people_unserved"]),
                     "share_4g": _share(t["people_4g"], people),
                     "facilities": int(t["facilities"]),
                     "facilities_unserved": int(t["facilities_unserved"]),
                     **{f"sites_{s}": int(t[f"sites_{s}"]) for s in STATUS_ORDER}})
    return pd.DataFrame(rows)


def kecamatan_tables(villages: pd.DataFrame, areas: pd.DataFrame | None = None
                     ) -> list[KecamatanTable]:
    """A table of kampung for each kecamatan among ``villages``, by code."""
    out = []
    rows = villages.groupby("kecamatan_kode", sort=True).indices if len(villages) else {}
    for region in list_regions(villages, areas):
        if region.level != "kecamatan":
            continue
        members = villages.iloc[rows[region.kode]]
        out.append(KecamatanTable(region, headline(members), village_rows(members)))
    return out


def register_by_agency(sites: pd.DataFrame | None, lang: str = "id") -> pd.DataFrame:
    """Sites per agency (OPD) and status, largest agency first, with a total row.

    Columns: ``agency`` and one count column per status (``installed``,
    ``in_progress``, ``planned``, ``proposed``) plus ``total``. The last row is
    the total (``agency`` = "Jumlah"/"Total").
    """
    cols = ["agency", *STATUS_ORDER, "total"]
    if sites is None or len(sites) == 0:
        return pd.DataFrame(columns=cols)
    agency = sites["agency"].astype("string").str.strip() if "agency" in sites.columns else \
        pd.Series("", index=sites.index, dtype="string")
    blank = gettext(NO_AGENCY, lang)
    agency = agency.fillna("").replace("", blank)
    table = pd.crosstab(agency, sites["status"]).reindex(columns=list(STATUS_ORDER),
                                                         fill_value=0)
    table["total"] = table.sum(axis=1)
    table = table.reset_index(names="agency")
    table = table.sort_values(["total", "agency"], ascending=[False, True], kind="mergesort")
    total = {"agency": gettext("Total", lang),
             **{c: int(table[c].sum()) for c in (*STATUS_ORDER, "total")}}
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    for c in (*STATUS_ORDER, "total"):
        table[c] = table[c].astype(int)
    return table[cols]


def sites_in_region(sites: pd.DataFrame | None, region: str) -> pd.DataFrame | None:
    """The sites whose village lies in ``region`` (sites outside every village are left out)."""
    if sites is None:
        return None
    return sites[in_region(sites["village_kode"], region)]


def provenance(project: Project, lang: str = "id") -> list[dict]:
    """Where each layer came from: label, file name, licence, import date, rows, note;
    and the field reports verified in the register (:func:`register_reports_source`)."""
    out = []
    for key, entry in project.config.get("sources", {}).items():
        base = key.split(":", 1)[0]
        label = gettext(SOURCE_LABELS[base], lang) if base in SOURCE_LABELS else key
        if key.startswith("coverage"):  # coverage_<operator>_<technology>
            label = gettext("Coverage", lang)
        out.append({"key": key, "label": label,
                    "file": Path(str(entry.get("file", ""))).name,
                    "licence": entry.get("licence", ""),
                    "imported": str(entry.get("imported", ""))[:10],
                    "rows": entry.get("rows"), "note": entry.get("note", "")})
    registered = register_reports_source(project, lang)
    if registered is not None:
        out.append(registered)
    order = list(SOURCE_LABELS)
    out.sort(key=lambda e: (order.index(e["key"].split(":", 1)[0])
                            if e["key"].split(":", 1)[0] in order else len(order), e["key"]))
    return out


def register_reports_source(project: Project, lang: str = "id") -> dict | None:
    """The field reports verified in the register database, as one source entry.

    Named like an imported report sheet: the label, where they are (the register
    database), how many, the range of their observation dates (in ``note``) and
    the date of the latest review (``imported``). None when the project has no
    register database or no verified report (reading creates no database).
    """
    from geo_p2dd.registry.field_reports import list_reports
    from geo_p2dd.registry.store import engine_for, has_register

    if not has_register(project.path):
        return None
    records = list_reports(engine_for(project.path), status="verified")
    if not records:
        return None
    observed = sorted(str(r["observed_at"])[:10] for r in records if r.get("observed_at"))
    reviewed = max((str(r["reviewed_at"])[:10] for r in records if r.get("reviewed_at")),
                   default="")
    note = ""
    if observed:
        note = gettext("observed %(first)s to %(last)s", lang) % {
            "first": observed[0], "last": observed[-1]}
    return {"key": "reports:register",
            "label": gettext("Field reports verified in the register", lang),
            "file": gettext("register database", lang),
            "licence": gettext("own records of the register", lang),
            "imported": reviewed, "rows": len(records), "note": note}


def method(project: Project) -> dict:
    """The thresholds and weights of the stored analysis (else the configured ones)."""
    analysis = project.config.get("analysis") or {}
    thresholds = analysis.get("thresholds") or project.config["thresholds"]
    return {
        "date": str(analysis.get("date", ""))[:10],
        "rsrp_dbm": dict(thresholds.get("rsrp_dbm", {})),
        "usable_class": thresholds.get("usable_class", "poor"),
        "served_share": float(thresholds.get("served_share", 0.9)),
        "weights": dict(analysis.get("weights") or project.config["weights"]),
        "service_radius_m": dict(analysis.get("service_radius_m")
                                 or project.config["service_radius_m"]),
        "modelled": [m.get("name") for m in analysis.get("modelled", [])],
        "coverage": [c.get("name") for c in project.coverage_entries()],
    }


@dataclass
class Summary:
    """Everything a printed summary of one region shows."""

    project_name: str
    is_sample: bool
    region: Region
    lang: str
    headline: dict
    top_gaps: pd.DataFrame
    kecamatan: pd.DataFrame
    kecamatan_tables: list[KecamatanTable]
    register: pd.DataFrame
    provenance: list[dict]
    method: dict
    extra: dict = field(default_factory=dict)

    @property
    def class_labels(self) -> dict[str, str]:
        return GAP_CLASSES.labels(self.lang)

    @property
    def status_labels(self) -> dict[str, str]:
        return SITE_STATUS.labels(self.lang)


def build_summary(project: Project, region: str, *, lang: str = "id", top: int = 10,
                  results: pd.DataFrame | None = None, areas: pd.DataFrame | None = None,
                  sites: pd.DataFrame | None = None) -> Summary:
    """The summary of ``region`` (a kabupaten or kecamatan code) of an analysed project.

    ``results``, ``areas`` and ``sites`` may be given when already read (the
    web app keeps them in memory); otherwise they are read from the project (of
    ``village_results`` only the region's rows, :func:`read_region_results`).

    Raises
    ------
    NotFoundError
        The project has not been analysed, or has no such region.

    Examples
    --------
    >>> s = build_summary(Project("data/sample"), "99.01")       # doctest: +SKIP
    >>> s.headline["classes"]["blank_spot"]                     # doctest: +SKIP
    22
    """
    results, areas, sites = read_summary_inputs(project, region, results, areas, sites)
    reg = resolve_region(results, areas, region)
    members = results[in_region(results["kode"], reg.kode)]
    return Summary(
        project_name=project.name, is_sample=project.is_sample, region=reg, lang=lang,
        headline=headline(members), top_gaps=top_gaps(members, top, lang),
        kecamatan=kecamatan_overview(members, areas),
        # a province lists its kecamatan; their kampung are in each kabupaten's summary
        kecamatan_tables=[] if reg.level == "provinsi" else kecamatan_tables(members, areas),
        register=register_by_agency(sites_in_region(sites, reg.kode), lang),
        provenance=provenance(project, lang), method=method(project),
        extra={**_evidence_and_checks(project, reg.kode, lang),
               "budget": _budget(sites_in_region(sites, reg.kode), lang),
               "recommendations": _recommendations(project, reg, lang)})


def _evidence_and_checks(project: Project, region: str, lang: str) -> dict:
    """The measured-signal footnote and the checks appendix (geo_p2dd.report.appendix)."""
    from geo_p2dd.report.appendix import summary_extra

    return summary_extra(project, region, lang)


def _budget(sites: pd.DataFrame | None, lang: str) -> dict:
    from geo_p2dd.budget import budget_table, budget_totals  # the register's budgets

    return budget_table(budget_totals(sites), lang)


def _recommendations(project: Project, reg: Region, lang: str) -> dict:
    """The best next sites of the region (geo_p2dd.report.recommendations; a model's proposal)."""
    from geo_p2dd.report.recommendations import recommendations

    return recommendations(project, reg.kode, reg.level, lang)
