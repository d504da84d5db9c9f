"""Tests for geo_p2dd.staticmap: server-side maps of a region (PNG and SVG)."""

from __future__ import annotations

import io
import re

import numpy as np
import pyogrio
import pytest
from conftest import ARTIFACTS
from PIL import Image

from geo_p2dd.errors import InputError, NotFoundError
from geo_p2dd.schema import GAP_CLASSES, SITE_STATUS
from geo_p2dd.staticmap import SITE_STYLE, _nice_length, render_map
from geo_p2dd.style import GAP_COLOURS, GAP_ORDER, SITE_COLOURS, STATUS_ORDER


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])


def _share_of(img: np.ndarray, hex_colour: str, tol: int = 6) -> float:
    return float((np.abs(img[..., :3].astype(int) - _rgb(hex_colour)).max(axis=-1) <= tol).mean())


@pytest.fixture(scope="module")
def kabupaten_png(sample_project) -> bytes:
    png = render_map(sample_project, "99.01", dpi=120)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "staticmap_sample_99.01.png").write_bytes(png)
    return png


def test_png_size_follows_the_printed_width(kabupaten_png):
    img = Image.open(io.BytesIO(kabupaten_png))
    assert img.format == "PNG"
    assert abs(img.width - 182 / 25.4 * 120) <= 1
    assert 70 / 25.4 * 120 < img.height <= round(150 / 25.4 * 120) + 1


def test_classes_and_sites_are_drawn_in_their_colours(kabupaten_png, sample_project):
    img = np.asarray(Image.open(io.BytesIO(kabupaten_png)).convert("RGB"))
    results = pyogrio.read_dataframe(sample_project.results_path, layer="village_results",
                                     read_geometry=False)
    present = set(results["gap_class"])
    assert len(present) >= 2
    for cls in present:
        assert _share_of(img, GAP_COLOURS[cls]) > 0.002, cls
    assert _share_of(img, GAP_COLOURS["no_4g"]) > 0  # at least its legend patch
    for status, (_, colour, _) in SITE_STYLE.items():  # the sample has every status
        assert _share_of(img, colour, tol=3) > 0, status


def test_svg_keeps_legend_text_in_both_languages(sample_project):
    results = pyogrio.read_dataframe(sample_project.results_path, layer="village_results",
                                     read_geometry=False)
    sites = sample_project.read_layer("sites").drop(columns="geometry")
    mine = results[results["kecamatan_kode"] == "99.01.02"]
    n = mine["gap_class"].value_counts()
    s = sites[sites["village_kode"].str.startswith("99.01.02.")]["status"].value_counts()
    svg = render_map(sample_project, "99.01.02", fmt="svg").decode("utf-8")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    text = re.sub(r"\s+", " ", svg)
    for label in (f"Blank spot ({n.get('blank_spot', 0)})",
                  f"4G sebagian ({n.get('partial_4g', 0)})",
                  f"Terpasang ({s.get('installed', 0)})", f"Usulan ({s.get('proposed', 0)})",
                  "Kampung lain", "Batas kecamatan"):
        assert label in text, label
    en = render_map(sample_project, "99.01.02", fmt="svg", lang="en").decode("utf-8")
    for label in (f"Partial 4G ({n.get('partial_4g', 0)})",
                  f"Installed ({s.get('installed', 0)})", f"Proposed ({s.get('proposed', 0)})",
                  "Other villages"):
        assert label in en, label


def test_kecamatan_map_shows_its_neighbours_in_grey(sample_project):
    png = render_map(sample_project, "99.01.02", dpi=80, max_height_mm=120)
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert _share_of(img, "#eeeeee", tol=2) > 0.02
    assert img.shape[0] <= round(120 / 25.4 * 80) + 1


def test_unknown_format_and_region(sample_project):
    with pytest.raises(InputError, match="png, svg"):
        render_map(sample_project, "99.01", fmt="gif")
    with pytest.raises(NotFoundError):
        render_map(sample_project, "99.07")


@pytest.mark.parametrize(("span_m", "expected"), [(200_000, 50_000), (130_000, 20_000),
                                                  (45_000, 10_000), (9_000, 2_000),
                                                  (3_000, 500)])
def test_scale_bar_length_is_round(span_m, expected):
    assert _nice_length(span_m) == expected


def test_one_style_for_every_map():
    """The static map, the summary and the web map draw from geo_p2dd.style."""
    from web import mapdata

    assert GAP_ORDER == GAP_CLASSES.ids and STATUS_ORDER == SITE_STATUS.ids
    assert mapdata.GAP_COLOURS is GAP_COLOURS and mapdata.SITE_COLOURS is SITE_COLOURS
    assert {s: colour for s, (_, colour, _) in SITE_STYLE.items()} == SITE_COLOURS


def _map_pixels(project, region: str, dpi: int, max_height_mm: float = 150.0):
    """The villages of ``region`` (projected) and their pixel positions on its map."""
    import geopandas as gpd
    import shapely

    from geo_p2dd.staticmap import _frame

    villages = project.read_layer("villages")
    results = pyogrio.read_dataframe(project.layer_path("village_results"), layer="village_results",
                                     read_geometry=False)[["kode", "gap_class"]]
    mine = villages[villages["kode"].str.startswith(region + ".")].merge(results, on="kode")
    mine = gpd.GeoDataFrame(mine, geometry="geometry", crs=villages.crs).to_crs(
        project.grid.crs)
    (west, south, east, north), map_h, _ = _frame(mine.total_bounds, 182.0, max_height_mm)
    px_per_mm = dpi / 25.4
    circles = shapely.maximum_inscribed_circle(mine.geometry.values, 1.0)
    centre = shapely.get_point(circles, 0)
    col = (shapely.get_x(centre) - west) / (east - west) * 182.0 * px_per_mm
    row = (north - shapely.get_y(centre)) / (north - south) * map_h * px_per_mm
    radius_px = shapely.length(circles) / (east - west) * 182.0 * px_per_mm
    return mine, col, row, radius_px


def test_every_village_is_drawn_in_its_class_colour(sample_project):
    """Read back the PNG inside each village: its class colour is there (one collection
    per class now draws them all, holes and multi-part villages included)."""
    dpi = 100
    img = np.asarray(Image.open(io.BytesIO(render_map(sample_project, "99.01", dpi=dpi)))
                     .convert("RGB")).astype(int)
    mine, col, row, radius = _map_pixels(sample_project, "99.01", dpi)
    shares = []
    for cls, c, r, rad in zip(mine["gap_class"], col, row, radius, strict=True):
        if rad < 4:  # too thin to find its inside at this resolution
            continue
        half = int(min(rad * 0.6, 10))
        window = img[int(r) - half:int(r) + half + 1, int(c) - half:int(c) + half + 1]
        near = np.abs(window - _rgb(GAP_COLOURS[cls])).max(axis=-1) <= 6
        assert near.any(), (cls, c, r)  # a site marker or a label may cover the rest
        shares.append(near.mean())
    assert len(shares) >= 0.8 * len(mine)
    assert np.mean(shares) > 0.5  # under the white hatching, markers and labels


def test_paths_keep_holes_and_parts():
    import shapely
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from geo_p2dd.staticmap import _fill, _paths

    ring = shapely.Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], [[(3, 3), (7, 3), (7, 7),
                                                                    (3, 7)]])
    parts = shapely.MultiPolygon([shapely.box(12, 0, 15, 3), shapely.box(12, 7, 15, 10)])
    assert len(_paths([ring, shapely.Polygon(), parts])) == 2  # one path each, empty left out
    fig = Figure(figsize=(1.6, 1.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, 16)
    ax.set_ylim(0, 10)
    _fill(ax, [ring, parts], facecolor="#b2182b", edgecolor="none", linewidth=0, zorder=1)
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)

    def at(x, y):  # the pixel at data coordinates (x, y)
        return img[int((10 - y) * 10), int(x * 10)]

    red, white = _rgb("#b2182b"), _rgb("#ffffff")
    assert np.abs(at(1.5, 1.5) - red).max() <= 6  # the polygon
    assert np.abs(at(5, 5) - white).max() <= 6  # its hole
    assert np.abs(at(13.5, 1.5) - red).max() <= 6  # both parts of the multi-polygon
    assert np.abs(at(13.5, 8.5) - red).max() <= 6
    assert np.abs(at(13.5, 5) - white).max() <= 6  # and nothing between them


@pytest.mark.parametrize("region", ["99.01", "99.01.02"])
def test_a_map_read_alone_equals_the_map_of_layers_in_memory(sample_project, region):
    """Without the layers in memory the map reads the region's rows and the frame's
    villages only; it draws the same map."""
    given = render_map(sample_project, region, dpi=80,
                       results=pyogrio.read_dataframe(sample_project.results_path,
                                                      layer="village_results",
                                                      read_geometry=False),
                       villages=sample_project.read_layer("villages"),
                       sites=sample_project.read_layer("sites"))
    alone = render_map(sample_project, region, dpi=80)
    a = np.asarray(Image.open(io.BytesIO(given)).convert("RGB")).astype(int)
    b = np.asarray(Image.open(io.BytesIO(alone)).convert("RGB")).astype(int)
    assert a.shape == b.shape
    assert (np.abs(a - b).max(axis=-1) > 30).mean() < 0.001
