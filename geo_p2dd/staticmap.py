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
import pyogrio
import shapely
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.path import Path
from PIL import Image

from geo_p2dd.codes import region_sql
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
from geo_p2dd.summary import in_region, read_summary_inputs, resolve_region

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


def _window(bounds, crs, to_crs) -> tuple[float, float, float, float]:
    """The box in ``to_crs`` that holds the map frame ``bounds`` (in ``crs``)."""
    outline = shapely.segmentize(shapely.box(*bounds), (bounds[2] - bounds[0]) / 16)
    return tuple(gpd.GeoSeries([outline], crs=crs).to_crs(to_crs).total_bounds)


def _in_frame(frame: gpd.GeoDataFrame, bounds, crs) -> gpd.GeoDataFrame:
    """The rows of ``frame`` (any CRS) whose shapes meet the map frame ``bounds`` (in ``crs``)."""
    window = _window(bounds, crs, frame.crs)
    return frame.iloc[np.sort(frame.sindex.query(shapely.box(*window)))]


def _read_villages(project: Project, *, where: str | None = None, bbox=None
                   ) -> gpd.GeoDataFrame:
    """Codes and outlines of the villages ``where`` (SQL) holds or within ``bbox`` (degrees)."""
    return pyogrio.read_dataframe(project.layers_path, layer="villages", columns=["kode"],
                                  where=where, bbox=bbox, use_arrow=True)


def _frame(bounds, width_mm: float, max_height_mm: float):
    """The map's frame around a region's ``bounds``: frame bounds, map and legend heights (mm).

    The map is ``width_mm`` wide and as tall as the region's shape asks (at least
    70 mm), the legend under it included in ``max_height_mm``.
    """
    legend_mm = 4.5 + 3.5 * max(5, len(STATUS_ORDER))  # title plus the longest column
    west, south, east, north = bounds
    aspect_region = max(east - west, 1.0) / max(north - south, 1.0)
    map_h = max(min(max_height_mm - legend_mm, width_mm / aspect_region), 70.0)
    return _fit(bounds, width_mm / map_h), map_h, legend_mm


def _simplified(frame: gpd.GeoDataFrame, tolerance: float) -> gpd.GeoDataFrame:
    """``frame`` with its shapes simplified by ``tolerance`` (CRS units) for drawing.

    Douglas-Peucker (a tenth of the topology-preserving simplifier's time on a
    province's frame); a shape it collapses keeps its original outline, so every
    village is still drawn, however small.
    """
    original = np.asarray(frame.geometry.values, dtype=object)
    simple = shapely.simplify(original, tolerance, preserve_topology=False)
    lost = shapely.is_empty(simple) & ~shapely.is_empty(original)
    simple[lost] = original[lost]
    return frame.set_geometry(gpd.GeoSeries(simple, index=frame.index, crs=frame.crs))


def _paths(geoms) -> list[Path]:
    """Each polygonal geometry as one matplotlib path (parts and holes), empties left out.

    Built from shapely's coordinate arrays in one pass, not a patch per polygon:
    exteriors run counter-clockwise and holes clockwise, so holes stay open under
    either fill rule.
    """
    geoms = np.asarray(geoms, dtype=object)
    parts, owner = shapely.get_parts(geoms, return_index=True)
    parts = shapely.orient_polygons(parts)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    if not len(coords):
        return []
    codes = np.full(len(coords), Path.LINETO, dtype=Path.code_type)
    starts = np.flatnonzero(np.diff(ring_of, prepend=-1))
    codes[starts] = Path.MOVETO
    codes[np.append(starts[1:], len(coords)) - 1] = Path.CLOSEPOLY
    vertex_owner = owner[ring_part[ring_of]]
    cuts = np.flatnonzero(np.diff(vertex_owner)) + 1
    return [Path(v, c) for v, c in zip(np.split(coords, cuts), np.split(codes, cuts),
                                       strict=True)]


def _outlines(geoms) -> list[np.ndarray]:
    """The rings of polygonal geometries as coordinate arrays (for a LineCollection)."""
    parts = shapely.get_parts(np.asarray(geoms, dtype=object))
    coords, ring_of = shapely.get_coordinates(shapely.get_rings(parts), return_index=True)
    return np.split(coords, np.flatnonzero(np.diff(ring_of)) + 1) if len(coords) else []


def _fill(ax, geoms, *, facecolor, edgecolor: str, linewidth: float, zorder: int,
          hatch: str | None = None, raster: bool = True) -> None:
    """Polygons drawn as one collection (one draw call, whatever their number).

    In a raster (``raster``) the hatching (white, as the outlines) is laid once over
    all of them as one compound path: Agg hatches each path of a collection on its
    own, which took three quarters of a province map's drawing time. An SVG keeps the
    hatching per path (its file would otherwise hold every outline twice).
    """
    paths = _paths(geoms)
    if not paths:
        return
    ax.add_collection(PathCollection(paths, facecolors=facecolor, edgecolors=edgecolor,
                                     linewidths=linewidth, zorder=zorder,
                                     hatch=None if raster else hatch), autolim=False)
    if hatch and raster:
        ax.add_collection(PathCollection([Path.make_compound_path(*paths)],
                                         facecolors="none", edgecolors="none", linewidths=0,
                                         hatch=hatch, zorder=zorder), autolim=False)


def _outline(ax, geoms, *, color: str, linewidth: float, zorder: int) -> None:
    """Polygon outlines drawn as one line collection."""
    lines = _outlines(geoms)
    if lines:
        ax.add_collection(LineCollection(lines, colors=color, linewidths=linewidth,
                                         zorder=zorder), autolim=False)


def render_map(project: Project, region: str, *, fmt: str = "png", lang: str = "id",
               width_mm: float = 182.0, max_height_mm: float = 150.0, dpi: int = 200,
               top: int = 10, results: pd.DataFrame | None = None,
               villages: gpd.GeoDataFrame | None = None, sites: gpd.GeoDataFrame | None = None,
               areas: pd.DataFrame | None = None) -> bytes:
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
    results, villages, sites, areas : optional
        ``village_results``, the villages layer, the sites layer and ``area_results``
        when already read. Without them only the region's results and the villages in
        the map's frame are read.

    Returns
    -------
    bytes
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown map format {fmt!r}", expected=", ".join(FORMATS))
    results, areas, sites = read_summary_inputs(project, region, results, areas, sites)
    reg = resolve_region(results, areas, region)

    # the region's villages; without the layer in memory only they are read (a province
    # of a national project: ~1,000 of 83,000), and the others in the frame afterwards
    if villages is None:
        where = region_sql(reg.kode)
        mine = _read_villages(project, where=where)
        if where is None or not len(mine):  # not a plain code: filter here
            mine = _read_villages(project)
            mine = mine[in_region(mine["kode"], reg.kode).to_numpy()]
        crs = project.grid.crs if project.grid is not None else mine.estimate_utm_crs()
    else:
        inside = in_region(villages["kode"], reg.kode).to_numpy()
        mine = villages.loc[inside, ["kode", "geometry"]]
        crs = project.grid.crs if project.grid is not None else villages.estimate_utm_crs()
    focus = mine[["kode", "geometry"]].merge(
        results[["kode", "gap_class", "rank", "kecamatan_kode"]], on="kode", how="left")
    focus = gpd.GeoDataFrame(focus, geometry="geometry", crs=mine.crs).to_crs(crs)
    focus["gap_class"] = focus["gap_class"].fillna("unknown")

    bounds, map_h, legend_mm = _frame(focus.total_bounds, width_mm, max_height_mm)
    height_mm = map_h + legend_mm
    # draw only what the frame shows, simplified to half a printed pixel: a province of
    # a national project would otherwise project and draw every village of Indonesia
    tolerance = (bounds[2] - bounds[0]) / (width_mm * MM * dpi) / 2
    focus = _simplified(focus, tolerance)
    window = _window(bounds, crs, "EPSG:4326")  # the layers are stored in degrees
    if villages is None:
        other = _read_villages(project, bbox=window)
        other = other[~in_region(other["kode"], reg.kode).to_numpy()]
    else:
        other = _in_frame(villages.loc[~inside, ["kode", "geometry"]], bounds, crs)
    other = _simplified(other.to_crs(crs), tolerance)
    kec = project.read_layer("kecamatan", required=False, bbox=window)
    kec = _simplified(kec.to_crs(crs), tolerance) if kec is not None and len(kec) else None
    kab = project.read_layer("kabupaten", required=False, bbox=window)
    kab = _simplified(kab.to_crs(crs), tolerance) if kab is not None and len(kab) else None

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
            _fill(ax, other.geometry.values, facecolor=CONTEXT_FILL, edgecolor="white",
                  linewidth=0.3, zorder=1)
        for cls in GAP_ORDER:
            part = focus[focus["gap_class"] == cls]
            if len(part):
                _fill(ax, part.geometry.values, facecolor=GAP_COLOURS[cls], edgecolor="white",
                      linewidth=0.35, hatch=GAP_HATCH[cls], zorder=2, raster=fmt == "png")
        if kec is not None:
            _outline(ax, kec.geometry.values, color="#243b53", linewidth=0.9, zorder=3)
        if kab is not None:
            _outline(ax, kab.geometry.values, color="black", linewidth=1.4, zorder=3)
        halo = [patheffects.withStroke(linewidth=2.2, foreground="white")]
        if kec is not None:
            if reg.level == "kecamatan":
                _outline(ax, kec.geometry.values[(kec["kode"] == reg.kode).to_numpy()],
                         color="black", linewidth=1.8, zorder=4)
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
        if fmt == "png":
            # RGB, not matplotlib's RGBA: the map is opaque, and a PDF would otherwise carry
            # (and WeasyPrint encode) a second, all-opaque alpha image
            fig.canvas.draw()
            rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]
            Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG", dpi=(dpi, dpi))
        else:
            fig.savefig(buf, format=fmt, dpi=dpi, metadata={"Date": None})
    return buf.getvalue()
