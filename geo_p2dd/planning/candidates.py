"""Where a new site could go: demand locations for terminals, and high ground for towers.

* Starlink, VSAT and Wi-Fi: at every demand location (settlement or public
  facility not served even with the pipeline): a terminal serves around itself.
* BTS: at the most populated demand settlement of each village, and on DEM high
  ground near demand settlements: the highest cells of ~1 km blocks that are
  local maxima among their eight neighbouring blocks, within
  ``[planning] bts_search_km`` of a demand settlement, at least 3 km apart,
  highest first, at most ``[planning] bts_max_candidates``.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from geo_p2dd.planning.demand import Baseline

#: high-ground candidates are the highest cells of blocks this wide (m)
HIGH_GROUND_BLOCK_M = 1000.0
#: and at least this far apart (m)
HIGH_GROUND_SPACING_M = 3000.0


def local_maxima(dem: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and elevations of block-wise local maxima of ``dem``.

    The DEM is cut into ``block`` x ``block`` cells; a block whose highest cell
    is at least as high as the highest cell of each of its eight neighbours
    yields that cell. NaN (unknown) never wins.
    """
    h, w = dem.shape
    bh, bw = -(-h // block), -(-w // block)
    padded = np.full((bh * block, bw * block), -np.inf)
    padded[:h, :w] = np.where(np.isnan(dem), -np.inf, dem)
    blocks = padded.reshape(bh, block, bw, block).transpose(0, 2, 1, 3).reshape(bh, bw, -1)
    arg = blocks.argmax(axis=2)
    top = np.take_along_axis(blocks, arg[..., None], axis=2)[..., 0]
    ring = np.full((bh + 2, bw + 2), -np.inf)
    ring[1:-1, 1:-1] = top
    peak = np.isfinite(top)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr or dc:
                peak &= top >= ring[1 + dr:1 + dr + bh, 1 + dc:1 + dc + bw]
    br, bc = np.nonzero(peak)
    a = arg[br, bc]
    rows = br * block + a // block
    cols = bc * block + a % block
    return rows, cols, top[br, bc]


def high_ground(baseline: Baseline) -> pd.DataFrame:
    """High-ground tower candidates near demand settlements (x, y in the grid CRS)."""
    p = baseline.settings.planning
    dem = baseline.dem
    empty = pd.DataFrame({"x": [], "y": [], "elevation_m": []})
    loc = baseline.locations
    settle = loc[loc["demand"] & (loc["kind"] == "settlement")]
    if dem is None or p.bts_max_candidates == 0 or not len(settle):
        return empty
    grid = baseline.grid
    block = max(1, int(round(HIGH_GROUND_BLOCK_M / grid.resolution)))
    rows, cols, elev = local_maxima(dem, block)
    if not len(rows):
        return empty
    xs, ys = grid.centres()
    x, y = xs[cols], ys[rows]
    sx, sy = settle["x"].to_numpy(), settle["y"].to_numpy()
    limit = p.bts_search_km * 1000.0
    near = np.zeros(len(x), dtype=bool)
    for i in range(0, len(x), 2048):  # (points x settlements) in slices
        d2 = (x[i:i + 2048, None] - sx[None, :]) ** 2 + (y[i:i + 2048, None] - sy[None, :]) ** 2
        near[i:i + 2048] = (d2 <= limit * limit).any(axis=1)
    x, y, elev = x[near], y[near], elev[near]
    order = np.lexsort((x, y, -elev))  # highest first; ties by position (deterministic)
    keep: list[int] = []
    for i in order:
        if len(keep) >= p.bts_max_candidates:
            break
        if keep and (np.hypot(x[keep] - x[i], y[keep] - y[i]) < HIGH_GROUND_SPACING_M).any():
            continue
        keep.append(int(i))
    return pd.DataFrame({"x": x[keep], "y": y[keep], "elevation_m": elev[keep]})


def candidates(baseline: Baseline, kinds: tuple[str, ...]) -> pd.DataFrame:
    """All candidates for ``kinds``: ``candidate_id``, ``kind``, ``source``, ``location_id``,
    ``village_kode``, ``x``/``y`` (grid CRS), ``lon``/``lat``, ``elevation_m``."""
    loc = baseline.locations
    dem_loc = loc[loc["demand"]]
    parts = []
    for kind in kinds:
        if kind == "bts":
            continue
        parts.append(pd.DataFrame({
            "candidate_id": [f"{kind}@{i}" for i in dem_loc["location_id"]],
            "kind": kind, "source": np.where(dem_loc["kind"] == "settlement", "settlement",
                                             "facility"),
            "location_id": dem_loc["location_id"].to_numpy(),
            "village_kode": dem_loc["village_kode"].to_numpy(),
            "x": dem_loc["x"].to_numpy(), "y": dem_loc["y"].to_numpy(),
            "lon": dem_loc["lon"].to_numpy(), "lat": dem_loc["lat"].to_numpy()}))
    if "bts" in kinds:
        settle = dem_loc[dem_loc["kind"] == "settlement"].copy()
        settle["_p"] = pd.to_numeric(settle["people"], errors="coerce").fillna(0)
        main = settle.sort_values(["village_kode", "_p", "location_id"],
                                  ascending=[True, False, True]).drop_duplicates("village_kode")
        parts.append(pd.DataFrame({
            "candidate_id": [f"bts@{i}" for i in main["location_id"]], "kind": "bts",
            "source": "settlement", "location_id": main["location_id"].to_numpy(),
            "village_kode": main["village_kode"].to_numpy(), "x": main["x"].to_numpy(),
            "y": main["y"].to_numpy(), "lon": main["lon"].to_numpy(),
            "lat": main["lat"].to_numpy()}))
        hg = high_ground(baseline)
        if len(hg):
            pts = gpd.GeoSeries(gpd.points_from_xy(hg["x"], hg["y"]),
                                crs=baseline.grid.crs).to_crs("EPSG:4326")
            lon, lat = np.round(pts.x.to_numpy(), 6), np.round(pts.y.to_numpy(), 6)
            parts.append(pd.DataFrame({
                "candidate_id": [f"bts@high-{a:.5f},{b:.5f}" for a, b in zip(lon, lat,
                                                                             strict=True)],
                "kind": "bts", "source": "high ground", "location_id": "",
                "village_kode": _village_of(baseline, hg), "x": hg["x"].to_numpy(),
                "y": hg["y"].to_numpy(), "lon": lon, "lat": lat,
                "elevation_m": np.round(hg["elevation_m"].to_numpy(), 1)}))
    if not parts:
        return pd.DataFrame(columns=["candidate_id", "kind", "source", "location_id",
                                     "village_kode", "x", "y", "lon", "lat", "elevation_m"])
    out = pd.concat(parts, ignore_index=True)
    if "elevation_m" not in out.columns:
        out["elevation_m"] = np.nan
    return out


def _village_of(baseline: Baseline, points: pd.DataFrame) -> np.ndarray:
    """Village of the nearest demand settlement (a hill's kampung is its neighbours')."""
    loc = baseline.locations
    settle = loc[loc["demand"] & (loc["kind"] == "settlement")]
    d2 = ((points["x"].to_numpy()[:, None] - settle["x"].to_numpy()[None, :]) ** 2
          + (points["y"].to_numpy()[:, None] - settle["y"].to_numpy()[None, :]) ** 2)
    return settle["village_kode"].to_numpy()[d2.argmin(axis=1)]
