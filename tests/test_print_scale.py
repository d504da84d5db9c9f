"""Printed summaries of large regions (issue 13: a province summary PDF in <= 10 s)."""

from __future__ import annotations

import geopandas as gpd
import shapely

from geo_p2dd.staticmap import _in_frame
from geo_p2dd.summary import build_summary


def test_static_map_takes_only_the_shapes_in_its_frame():
    cells = gpd.GeoDataFrame({"kode": [f"c{i}" for i in range(40)]},
                             geometry=[shapely.box(100 + i, 0, 100.9 + i, 0.9)
                                       for i in range(40)], crs="EPSG:4326")
    frame = gpd.GeoSeries([shapely.box(104.5, 0.2, 106.5, 0.6)], crs="EPSG:4326") \
        .to_crs("EPSG:3857").total_bounds
    picked = _in_frame(cells, frame, "EPSG:3857")
    assert list(picked["kode"]) == ["c4", "c5", "c6"]


def test_province_summary_lists_kecamatan_not_every_kampung(sample_project):
    province = build_summary(sample_project, "99")
    assert province.region.level == "provinsi"
    assert province.kecamatan_tables == []
    assert len(province.kecamatan) > 1  # the kecamatan overview stays
    kabupaten = build_summary(sample_project, "99.01")
    assert sum(len(t.rows) for t in kabupaten.kecamatan_tables) == \
        province.headline["villages"]


def test_a_long_kecamatan_overview_is_laid_out_fixed(sample_project):
    """A province's ~100 kecamatan: fixed table layout (a fifth faster in WeasyPrint);
    a kabupaten's few kecamatan, or six class columns, keep the automatic layout."""
    import re

    import pandas as pd

    from geo_p2dd.report.html import summary_html

    def table_class(summary) -> str:
        html = summary_html(summary, map_src="data:,")
        return re.search(r'<table class="([^"]*)" id="kecamatan-overview"', html).group(1)

    province = build_summary(sample_project, "99")
    assert "overview-fixed" not in table_class(province)  # five kecamatan
    province.kecamatan = pd.concat([province.kecamatan] * 7, ignore_index=True)  # 35 rows
    classes = province.headline["classes"]
    assert classes["unknown"] == 0  # the sample: five class columns
    assert "overview-fixed" in table_class(province)
    for c in classes:  # every class column shown: six
        classes[c] = classes[c] or 1
    assert "overview-fixed" not in table_class(province)
