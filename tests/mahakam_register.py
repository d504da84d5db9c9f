"""A messy agency register for the real Mahakam Ulu data (a test helper, not a test).

No public infrastructure register of Mahakam Ulu exists in ../shared/data, so this
writes one as a Diskominfo would circulate it: Indonesian headers, the spellings
agencies use ("Sudah Terpasang", "Dalam Proses", "Rusak", "Mati"), two agencies'
Starlinks in one kampung, rows without coordinates, a row naming no known kampung and
a row without a status. Sites stand where people live: near (0.3-1.6 km from) the
kampung's most populated 1 km GHS-POP cell, inside the kampung, as a terminal put at
the school or kampung office would. Computed with plain rasterio/shapely, never
geo_p2dd.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pyogrio
import rasterio
import rasterio.features
import rasterio.windows
import shapely

# (kampung code, jenis, status, OPD, sumber dana, tahun, facility note, offset east/north m,
#  with coordinates)
INSTALLED = [
    ("64.11.04.2010", "Starlink", "Sudah Terpasang", "Diskominfo", "APBD", 2023,
     "di SD Negeri 001 Long Apari", (700, 0), True),
    ("64.11.04.2004", "Starlink", "terpasang", "Diskominfo", "APBD", 2023,
     "di Kantor Kampung", (0, 900), True),
    ("64.11.05.2008", "VSAT", "Terpasang", "BAKTI Kominfo", "APBN", 2021,
     "", (-1200, 300), True),
    ("64.11.05.2005", "Starlink", "aktif", "Dinas Pendidikan", "APBD", 2024,
     "di SD Negeri 012 Naha Aru", (400, -1300), True),
    ("64.11.05.2010", "Wi-Fi Kampung", "Terpasang", "Pemerintah Kampung", "Dana Desa", 2024,
     "di Balai Kampung", (1500, 500), True),
    ("64.11.03.2001", "Starlink", "Terpasang", "Diskominfo", "APBD", 2024,
     "", (-600, -800), True),
    ("64.11.03.2003", "VSAT", "sudah terpasang", "BAKTI Kominfo", "APBN", 2022,
     "di Puskesmas Pembantu", (300, 300), True),
    ("64.11.02.2001", "Starlink", "Terpasang", "Diskominfo", "APBD", 2023,
     "", (0, -1600), True),
    ("64.11.02.2004", "Starlink", "Terpasang", "Diskominfo", "APBD", 2023,
     "di Kantor Kampung", (0, 0), False),
    ("64.11.01.2001", "VSAT", "Terpasang", "BAKTI Kominfo", "APBN", 2021,
     "", (1100, -200), True),
    ("64.11.01.2009", "Starlink", "Terpasang", "Dinas Kesehatan", "APBD", 2024,
     "di Puskesmas", (-300, 1400), True),
    ("64.11.04.2007", "Wi-Fi", "Terpasang", "Pemerintah Kampung", "Dana Desa", 2025,
     "", (0, 0), False),
    ("64.11.05.2002", "Starlink", "Terpasang", "Diskominfo", "APBD", 2024,
     "di SD Negeri 003 Long Pakaq", (-1500, 0), True),
    # a second agency's Starlink in two kampung (two sites, not one twice)
    ("64.11.04.2010", "Starlink", "Terpasang", "BAKTI Kominfo", "APBN", 2024,
     "di Kantor Kampung", (900, 150), True),
    ("64.11.04.2004", "Starlink", "Terpasang", "Dinas Pendidikan", "APBD", 2024,
     "di SD Negeri 004 Tiong Ohang", (200, 700), True),
]
PIPELINE = [
    ("64.11.04.2002", "Starlink", "Dalam Proses", "Diskominfo", "APBD", 2025, "", (500, 500)),
    ("64.11.05.2006", "Starlink", "proses", "Diskominfo", "APBD", 2025,
     "di SD Negeri 021 Datah Naha", (-800, 200)),
    ("64.11.05.2007", "Wi-Fi", "pembangunan", "Pemerintah Kampung", "Dana Desa", 2025,
     "", (0, 1000)),
    ("64.11.04.2009", "Starlink", "Rencana", "Diskominfo", "APBD", 2026, "", (600, -600)),
    ("64.11.05.2004", "VSAT", "direncanakan", "BAKTI Kominfo", "APBN", 2026, "", (-400, 0)),
    ("64.11.03.2005", "Starlink", "rencana", "Diskominfo", "APBD", 2026,
     "di Kantor Kampung", (0, 1200)),
    ("64.11.05.2003", "Starlink", "Rencana", "Dinas Pendidikan", "APBD", 2026,
     "di SD Negeri 015 Long Lunuk", (1000, 0)),
]
OTHER = [
    ("64.11.01.2003", "Starlink", "Usulan", "Pemerintah Kampung", "Dana Desa", 2026, "",
     (300, 0)),
    ("64.11.01.2004", "Starlink", "usulan", "Pemerintah Kampung", "Dana Desa", 2026, "",
     (0, 300)),
    ("64.11.02.2003", "VSAT", "diusulkan", "Diskominfo", "APBD", 2027, "", (-500, 0)),
    ("64.11.03.2002", "Starlink", "Usulan", "Diskominfo", "APBD", 2027, "", (0, -500)),
    ("64.11.02.2008", "Wi-Fi", "Usulan", "Pemerintah Kampung", "Dana Desa", 2026, "",
     (200, 200)),
    ("64.11.03.2004", "Starlink", "pengajuan", "Diskominfo", "APBD", 2027, "", (700, 700)),
    ("64.11.04.2001", "Starlink", "Rusak", "Diskominfo", "APBD", 2021, "", (400, 0)),
    ("64.11.05.2001", "VSAT", "rusak berat", "BAKTI Kominfo", "APBN", 2019, "", (0, 400)),
    ("64.11.01.2010", "Wi-Fi", "Mati", "Pemerintah Kampung", "Dana Desa", 2022, "",
     (-300, 0)),
    ("64.11.02.2010", "VSAT", "tidak aktif", "BAKTI Kominfo", "APBN", 2018, "", (0, -300)),
    ("64.11.02.2006", "Starlink", "Usulan", "Pemerintah Kampung", "Dana Desa", 2027, "",
     (-200, 600)),
    ("64.11.05.2011", "Starlink", "perlu perbaikan", "Diskominfo", "APBD", 2022, "",
     (500, -100)),
]
#: 36 rows: the 34 above, one naming no kampung, one without a status
ROWS = 36


def densest_cells(villages_gpkg: Path, pop_tif: Path) -> dict[str, tuple[float, float]]:
    """Centre (lon, lat) of each kampung's most populated GHS-POP cell."""
    desa = pyogrio.read_dataframe(villages_gpkg, layer="desa")
    out = {}
    with rasterio.open(pop_tif) as src:
        for kode, geom in zip(desa["kode"], desa.geometry, strict=True):
            window = rasterio.windows.from_bounds(*geom.bounds, transform=src.transform)
            c0, r0 = math.floor(window.col_off), math.floor(window.row_off)
            window = rasterio.windows.Window(c0, r0, math.ceil(window.width) + 2,
                                             math.ceil(window.height) + 2)
            pop = src.read(1, window=window, boundless=True, fill_value=0).astype(float)
            transform = src.window_transform(window)
            inside = rasterio.features.geometry_mask([geom], pop.shape, transform,
                                                     invert=True)
            pop[~inside | (pop < 0)] = 0
            r, c = np.unravel_index(int(np.argmax(pop)), pop.shape)
            x = transform.c + (c + 0.5) * transform.a
            y = transform.f + (r + 0.5) * transform.e
            out[kode] = (float(x), float(y))
    return out


def _offset(point, east_m, north_m, polygon):
    lon, lat = point
    for _ in range(8):  # shrink towards the cell until the site lies in its kampung
        q = (lon + east_m / (111_320 * math.cos(math.radians(lat))), lat + north_m / 110_574)
        if polygon.contains(shapely.Point(q)):
            return q
        east_m, north_m = east_m / 2, north_m / 2
    return point


def write_register(path: Path, villages_gpkg: Path, pop_tif: Path) -> dict[str, list]:
    """Write the register CSV; return the rows by status group (for the test's checks)."""
    desa = pyogrio.read_dataframe(villages_gpkg, layer="desa").set_index("kode")
    peak = densest_cells(villages_gpkg, pop_tif)
    header = ["No", "Nama Lokasi", "Kampung", "Jenis", "Status", "OPD", "Sumber Dana",
              "Tahun", "Lintang", "Bujur", "Keterangan"]
    rows = []
    groups: dict[str, list] = {"installed": [], "pipeline": [], "other": []}
    for group, items in (("installed", INSTALLED), ("pipeline", PIPELINE), ("other", OTHER)):
        for item in items:
            kode, jenis, status, opd, dana, tahun, note, (dx, dy) = item[:8]
            with_xy = item[8] if len(item) > 8 else True
            nama = desa.loc[kode, "nama"]
            lon, lat = _offset(peak[kode], dx, dy, desa.loc[kode, "geometry"])
            opd_short = opd.split()[0]
            rows.append([len(rows) + 1, f"{jenis} {opd_short} {nama}", nama, jenis, status,
                         opd, dana, tahun, f"{lat:.6f}" if with_xy else "",
                         f"{lon:.6f}" if with_xy else "", note])
            groups[group].append({"kode": kode, "kind": jenis, "status": status,
                                  "lon": lon, "lat": lat, "placed": not with_xy})
    rows.append([len(rows) + 1, "Starlink Long Apari Baru", "Long Apari Baru", "Starlink",
                 "Terpasang", "Diskominfo", "APBD", 2024, "0.9", "114.2", ""])
    rows.append([len(rows) + 1, "Starlink Lutan 2", "Lutan", "Starlink", "", "Diskominfo",
                 "APBD", 2025, "", "", "status belum diisi"])
    assert len(rows) == ROWS
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(header)
        w.writerows(rows)
    return groups
