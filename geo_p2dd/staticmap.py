"""Static maps of a region for printed summaries (matplotlib, Agg; no basemap).

Villages are filled by gap class in a colour-blind-safe diverging palette
(ColorBrewer RdBu; colours and shapes from :mod:`geo_p2dd.style`, shared with the
web map), with hatching on the two "no 4G" classes so the classes stay apart on a
black-and-white printer.
Kecamatan and kabupaten outlines, sites by status (shape and colour), the
numbers of the ranked top gaps, a legend, a scale bar and a north arrow are
drawn in the project's metric CRS, so distances on the map are true.

>>> png = render_map(Project("data/sample"), "99.01")            # doctest: +SKIP
"""

from __future__ import annotations

import io
import math
import threading

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import shapely
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from geo_p2dd.errors import InputError
from geo_p2dd.i18n import gettext
from geo_p2dd.project import Project
from geo_p2dd.schema import GAP_CLASSES, SITE_STATUS
from geo_p2dd.style import (
    CONTEXT_FILL,
    GAP_COLOURS,
    GAP_HATCH,
    GAP_ORDER,
    SITE_COLOURS,
    SITE_MARKERS,
    STATUS_ORDER,
)
from geo_p2dd.summary import in_region, resolve_region

SITE_STYLE = {s: (marker, SITE_COLOURS[s], size) for s, (marker, size) in SITE_MARKERS.items()}
MM = 1 / 25.4
FORMATS = ("png", "svg")

_RC = {"hatch.color": "white", "hatch.linewidth": 0.6, "font.family": "DejaVu Sans",
       "svg.hashsalt": "geo_p2dd", "svg.fonttype": "none"}  # SVG text stays text
_lock = threading.Lock()  # matplotlib's font and text caches are not thread-safe


def _nice_length(span_m: float) -> float:
    """A round scale-bar length (1, 2 or 5 x 10^n metres) near a quarter of ``span_m``."""
    target = span_m / 4.0
    exp = 10 ** math.floor(math.log10(target))
    for step in (5, 2, 1):
        if step * exp <= target:
            return step * exp
    return exp


def _scale_bar(ax, bounds, lang: str) -> None:
    west, south, east, north = bounds
    width = east - west
    length = _nice_length(width)
    x0 = west + 0.03 * width
    y0 = south + 0.04 * (north - south)
    h = 0.012 * (north - south)
    halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]
    ax.add_patch(Rectangle((x0 - 0.01 * width, y0 - 0.5 * h - 0.035 * (north - south)),
                           length + 0.04 * width, 0.075 * (north - south),
                           facecolor="white", edgecolor="none", alpha=0.8, zorder=9))
    for i in range(4):
        ax.add_patch(Rectangle((x0 + i * length / 4, y0), length / 4, h,
                               facecolor="black" if i % 2 == 0 else "white",
                               edgecolor="black", linewidth=0.6, zorder=10))
    km = length / 1000.0
    text = f"{km:g} km" if km >= 1 else f"{length:g} m"
    for frac, label in ((0, "0"), (1, text)):
        ax.text(x0 + frac * length, y0 - 0.6 * h, label, ha="center", va="top", fontsize=6.5,
                zorder=10, path_effects=halo)


def _north_arrow(ax, bounds, lang: str) -> None:
    west, south, east, north = bounds
    x = east - 0.04 * (east - west)
    y = north - 0.14 * (north - south)
    length = 0.08 * (north - south)
    ax.annotate("", xy=(x, y + length), xytext=(x, y),
                arrowprops={"arrowstyle": "-|>,head_length=0.6,head_width=0.3", "lw": 1.2,
                            "color": "black"}, zorder=10)
    # TRANSLATORS: the letter of the north arrow ("U" for utara)
    ax.text(x, y + length * 1.1, gettext("N", lang), ha="center", va="bottom",
            fontsize=8, fontweight="bold", zorder=10,
            path_effects=[patheffects.withStroke(linewidth=2.5, foreground="white")])


def _fit(bounds, aspect: float, margin: float = 0.04):
    """Bounds grown by ``margin`` and widened or heightened to the axes ``aspect`` (w/h)."""
    west, south, east, north = bounds
    w, h = max(east - west, 1.0), max(north - south, 1.0)
    west, east = west - margin * w, east + margin * w
    south, north = south - margin * h, north + margin * h
    w, h = east - west, north - south
    if w / h < aspect:
        grow = (aspect * h - w) / 2
        west, east = west - grow, east + grow
    else:
        grow = (w / aspect - h) / 2
        south, north = south - grow, north + grow
    return west, south, east, north


def _in_frame(frame: gpd.GeoDataFrame, bounds, crs) -> gpd.GeoDataFrame:
    """The rows of ``frame`` (any CRS) whose shapes meet the map frame ``bounds`` (in ``crs``)."""
    outline = shapely.segmentize(shapely.box(*bounds), (bounds[2] - bounds[0]) / 16)
    window = gpd.GeoSeries([outline], crs=crs).to_crs(frame.crs).iloc[0]
    return frame.iloc[np.sort(frame.sindex.query(shapely.box(*window.bounds)))]


def _simplified(frame: gpd.GeoDataFrame, tolerance: float) -> gpd.GeoDataFrame:
    """``frame`` with its shapes simplified by ``tolerance`` (CRS units), topology kept."""
    return frame.set_geometry(frame.geometry.simplify(tolerance, preserve_topology=True))


def render_map(project: Project, region: str, *, fmt: str = "png", lang: str = "id",
               width_mm: float = 182.0, max_height_mm: float = 150.0, dpi: int = 200,
               top: int = 10, results: pd.DataFrame | None = None,
               villages: gpd.GeoDataFrame | None = None, sites: gpd.GeoDataFrame | None = None
               ) -> bytes:
    """A static map of ``region`` (kabupaten or kecamatan code) as PNG or SVG bytes.

    Parameters
    ----------
    project : Project
        An analysed project.
    region : str
        Kemendagri code of a kabupaten (``64.11``) or kecamatan (``64.11.01``).
    fmt : {"png", "svg"}
    lang : {"id", "en"}
        Language of the legend.
    width_mm, max_height_mm : float
        Printed size; the height follows the region's shape, legend included.
    dpi : int
        Resolution of a PNG.
    top : int
        How many of the ranked gaps are numbered on the map (as in the report).
    results, villages, sites : optional
        ``village_results``, the villages layer and the sites layer when already read.

    Returns
    -------
    bytes
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown map format {fmt!r}", expected=", ".join(FORMATS))
    if results is None:
        results = project.read_table("village_results")
    if villages is None:
        villages = project.read_layer("villages")
    if sites is None:
        sites = project.read_layer("sites", required=False)
    reg = resolve_region(results, project.read_table("area_results", required=False), region)
    crs = project.grid.crs if project.grid is not None else villages.estimate_utm_crs()

    vil = villages[["kode", "geometry"]].merge(
        results[["kode", "gap_class", "rank", "kecamatan_kode"]], on="kode", how="left")
    vil = gpd.GeoDataFrame(vil, geometry="geometry", crs=villages.crs)
    vil["gap_class"] = vil["gap_class"].fillna("unknown")
    inside = in_region(vil["kode"], reg.kode).to_numpy()

    focus = vil[inside].to_crs(crs)
    legend_mm = 4.5 + 3.5 * max(5, len(STATUS_ORDER))  # title plus the longest column
    west, south, east, north = focus.total_bounds
    aspect_region = max(east - west, 1.0) / max(north - south, 1.0)
    map_h = min(max_height_mm - legend_mm, width_mm / aspect_region)
    map_h = max(map_h, 70.0)
    height_mm = map_h + legend_mm
    bounds = _fit(focus.total_bounds, width_mm / map_h)
    # draw only what the frame shows, simplified to half a printed pixel: a province of
    # a national project would otherwise project and draw every village of Indonesia
    tolerance = (bounds[2] - bounds[0]) / (width_mm * MM * dpi) / 2
    focus = _simplified(focus, tolerance)
    other = _simplified(_in_frame(vil[~inside], bounds, crs).to_crs(crs), tolerance)
    kec = project.read_layer("kecamatan", required=False)
    kec = _simplified(_in_frame(kec, bounds, crs).to_crs(crs), tolerance) \
        if kec is not None and len(kec) else None
    kab = project.read_layer("kabupaten", required=False)
    kab = _simplified(_in_frame(kab, bounds, crs).to_crs(crs), tolerance) \
        if kab is not None and len(kab) else None

    with _lock, matplotlib.rc_context(_RC):
        fig = Figure(figsize=(width_mm * MM, height_mm * MM), dpi=dpi)
        FigureCanvasAgg(fig)  # Agg, without pyplot: no global backend switch, no GUI
        ax = fig.add_axes((0, legend_mm / height_mm, 1, map_h / height_mm))
        ax.set_axis_off()
        ax.set_xlim(bounds[0], bounds[2])
        ax.set_ylim(bounds[1], bounds[3])
        ax.set_aspect("equal")
        ax.add_patch(Rectangle((0, 0), 1, 1, transform=ax.transAxes, facecolor="white",
                               edgecolor="#52606d", linewidth=0.8, zorder=0))
        if len(other):
            other.plot(ax=ax, facecolor=CONTEXT_FILL, edgecolor="white", linewidth=0.3,
                       zorder=1)
        for cls in GAP_ORDER:
            part = focus[focus["gap_class"] == cls]
            if len(part):
                part.plot(ax=ax, facecolor=GAP_COLOURS[cls], edgecolor="white",
                          linewidth=0.35, hatch=GAP_HATCH[cls], zorder=2)
        if kec is not None:
            kec.boundary.plot(ax=ax, color="#243b53", linewidth=0.9, zorder=3)
        if kab is not None:
            kab.boundary.plot(ax=ax, color="black", linewidth=1.4, zorder=3)
        halo = [patheffects.withStroke(linewidth=2.2, foreground="white")]
        if kec is not None:
            if reg.level == "kecamatan":
                kec[kec["kode"] == reg.kode].boundary.plot(ax=ax, color="black",
                                                           linewidth=1.8, zorder=4)
            for _, row in kec.iterrows():
                pt = row.geometry.representative_point()
                if not (bounds[0] < pt.x < bounds[2] and bounds[1] < pt.y < bounds[3]):
                    continue
                mine = bool(in_region(pd.Series([row["kode"]]), reg.kode).iloc[0])
                if reg.level == "kecamatan" and mine:
                    continue  # the title names it; its villages carry the numbers
                ax.text(pt.x, pt.y, str(row["nama"]), fontsize=7, ha="center", va="center",
                        color="#102a43" if mine else "#7b8794", fontstyle="italic", zorder=9,
                        path_effects=halo)
        # numbered top gaps, as in the report's ranked table
        ranked = focus[focus["gap_class"] != "served"].sort_values(["rank", "kode"]).head(top)
        for i, (_, row) in enumerate(ranked.iterrows(), start=1):
            pt = row.geometry.representative_point()
            ax.text(pt.x, pt.y, str(i), fontsize=6.5, ha="center", va="center",
                    fontweight="bold", color="black", zorder=8,
                    bbox={"boxstyle": "circle,pad=0.18", "facecolor": "white",
                          "edgecolor": "black", "linewidth": 0.6})
        site_counts = {s: 0 for s in STATUS_ORDER}
        if sites is not None and len(sites):
            s = sites[in_region(sites["village_kode"], reg.kode).to_numpy()]
            s = s[~(s.geometry.is_empty | s.geometry.isna())].to_crs(crs)
            for status in STATUS_ORDER:
                part = s[s["status"] == status]
                site_counts[status] = int(len(part))
                if len(part):
                    marker, colour, size = SITE_STYLE[status]
                    ax.plot(part.geometry.x, part.geometry.y, linestyle="none", marker=marker,
                            markersize=size, markerfacecolor=colour, markeredgecolor="white",
                            markeredgewidth=0.9, zorder=7)
        ax.set_xlim(bounds[0], bounds[2])
        ax.set_ylim(bounds[1], bounds[3])
        _scale_bar(ax, bounds, lang)
        _north_arrow(ax, bounds, lang)

        counts = focus["gap_class"].value_counts()
        class_handles = [
            Patch(facecolor=GAP_COLOURS[c], hatch=GAP_HATCH[c], edgecolor="white",
                  linewidth=0.3, label=f"{GAP_CLASSES.label(c, lang)} ({int(counts.get(c, 0))})")
            for c in GAP_ORDER if c != "unknown" or counts.get(c, 0)]
        site_handles = [
            Line2D([], [], linestyle="none", marker=SITE_STYLE[st][0],
                   markersize=SITE_STYLE[st][2], markerfacecolor=SITE_STYLE[st][1],
                   markeredgecolor="white", markeredgewidth=0.9,
                   label=f"{SITE_STATUS.label(st, lang)} ({site_counts[st]})")
            for st in STATUS_ORDER]
        other_handles = [
            Line2D([], [], color="#243b53", linewidth=0.9,
                   label=gettext("Kecamatan boundary", lang)),
        ]
        if len(ranked):
            other_handles.append(Line2D(
                [], [], linestyle="none", marker="o", markersize=8, markerfacecolor="white",
                markeredgecolor="black", markeredgewidth=0.6,
                label=gettext("1–%(n)s: gap rank", lang, n=len(ranked))))
        if len(other):
            other_handles.append(Patch(facecolor=CONTEXT_FILL, edgecolor="#bdbdbd",
                                       linewidth=0.3, label=gettext("Other villages", lang)))
        legend_ax = fig.add_axes((0, 0, 1, (legend_mm - 1) / height_mm))
        legend_ax.set_axis_off()
        titles = (gettext("Village class", lang), gettext("Sites (register)", lang), "")
        for x, handles, title in ((0.0, class_handles, titles[0]),
                                  (0.36, site_handles, titles[1]),
                                  (0.66, other_handles, titles[2])):
            leg = legend_ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(x, 1.0),
                                   fontsize=7, title=title,
                                   title_fontsize=7.5, frameon=False, handlelength=1.6,
                                   handleheight=1.1, borderaxespad=0.2, labelspacing=0.3,
                                   alignment="left")
            legend_ax.add_artist(leg)
        buf = io.BytesIO()
        metadata = {"Software": None} if fmt == "png" else {"Date": None}
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=metadata)
    return buf.getvalue()
