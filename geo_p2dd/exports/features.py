"""GeoJSON features as text, for OGC API items and streamed GeoJSON."""

from __future__ import annotations

import json
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely


def geojson_features(frame: gpd.GeoDataFrame, id_column: str, *, precision: int = 7,
                     extra: Sequence[str] | None = None) -> list[str]:
    """Each row as a GeoJSON Feature (a JSON string; ``id`` from ``id_column``).

    Coordinates are rounded to ``precision`` decimals (7: about 1 cm). ``extra``
    is a JSON fragment per feature added after the properties (e.g. links).
    """
    if not len(frame):
        return []
    geom = frame.geometry
    arr = np.asarray(geom.values, dtype=object)
    arr = shapely.transform(arr, lambda c: np.round(c, precision))
    geometries = shapely.to_geojson(arr)
    props = pd.DataFrame(frame.drop(columns=geom.name))
    lines = props.to_json(orient="records", lines=True, force_ascii=False,
                          double_precision=10).splitlines()
    ids = [json.dumps(str(v), ensure_ascii=False) for v in frame[id_column].to_numpy()]
    tails = extra if extra is not None else [""] * len(lines)
    return [f'{{"type":"Feature","id":{i},"geometry":{g if g is not None else "null"},'
            f'"properties":{p}{t}}}'
            for i, g, p, t in zip(ids, geometries, lines, tails, strict=True)]
