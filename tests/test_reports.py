"""Tests for the printable summaries: the library's renderer (geo_p2dd.report, its template
and report.css), the web pages (web/reports.py) and the ``geo-p2dd report`` command.

PDFs are read back with pypdf; the figures they must show are computed here from
the stored tables with pyogrio and pandas, never through geo_p2dd.summary.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openpyxl
import pandas as pd
import pyogrio
import pytest
from click.testing import CliRunner
from conftest import ARTIFACTS, mahakam_ulu_files
from pypdf import PdfReader

from geo_p2dd.cli import main
from geo_p2dd.schema import GAP_CLASSES, SITE_STATUS

A4_PT = (595.28, 841.89)
STATUSES = ("installed", "in_progress", "planned", "proposed", "damaged", "inactive")


def _id_int(n: float) -> str:
    """12.345 as Indonesian prints it."""
    return f"{round(n):,}".replace(",", ".")


def _pages(pdf: bytes) -> list[str]:
    return [re.sub(r"\s+", " ", p.extract_text()) for p in PdfReader(io.BytesIO(pdf)).pages]


def _assert_a4(pdf: bytes) -> int:
    reader = PdfReader(io.BytesIO(pdf))
    for page in reader.pages:
        box = page.mediabox
        assert float(box.width) == pytest.approx(A4_PT[0], abs=0.5)
        assert float(box.height) == pytest.approx(A4_PT[1], abs=0.5)
    return len(reader.pages)


def _tables(project) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    path = project.results_path
    return (pyogrio.read_dataframe(path, layer="village_results", read_geometry=False),
            pyogrio.read_dataframe(path, layer="area_results", read_geometry=False),
            pd.DataFrame(project.read_layer("sites").drop(columns="geometry")))


def _save_pngs(pdf: bytes, name: str) -> None:
    """Keep the pages as PNGs in test-artifacts/ for a human to look at."""
    if shutil.which("pdftoppm") is None:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / f"{name}.pdf"
    target.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(target), str(ARTIFACTS / name)],
                   check=True, timeout=60)


def _check_headline(text: str, villages: pd.DataFrame, lang: str = "id") -> None:
    """The headline figures on page 1 equal the analysis results (``villages`` rows)."""
    people = villages["people_located"].sum()
    unserved = villages["people_unserved"].sum()
    fmt = _id_int if lang == "id" else (lambda n: f"{round(n):,}")
    word = "jiwa" if lang == "id" else "people"
    assert f"{fmt(unserved)} {word}" in text
    share = f"{100 * villages['people_4g'].sum() / people:.1f}%"
    assert (share.replace(".", ",") if lang == "id" else share) in text
    fac, fac_un = villages["facilities"].sum(), villages["facilities_unserved"].sum()
    if fac:
        assert f"{fmt(fac_un)} {'dari' if lang == 'id' else 'of'} {fmt(fac)}" in text
    for cls in ("blank_spot", "no_4g", "partial_4g", "served"):
        n = int((villages["gap_class"] == cls).sum())
        assert f"{n} {GAP_CLASSES.label(cls, lang)}" in text, cls
    for st in STATUSES:
        n = int(villages[f"sites_{st}"].sum())
        label = re.escape(SITE_STATUS.label(st, lang))
        assert re.search(rf"(?<![\d.]){n} [●▲■◆✖✚] {label}", text), (st, n)


# -- the PDF -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def app(sample_project):
    from web import create_app

    return create_app({"PROJECT": str(sample_project.path), "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


def test_kabupaten_pdf(sample_project):
    """The sample kabupaten summary, laid out once (one test, so one render per run)."""
    from geo_p2dd.report import render_document

    doc = render_document(sample_project, "99.01")
    pdf = doc.write_pdf()
    _save_pngs(pdf, "report_sample_99.01")
    villages, areas, sites = _tables(sample_project)

    # A4, every page labelled SAMPLE and numbered
    assert 3 <= _assert_a4(pdf) <= 8
    pages = _pages(pdf)
    for i, page_text in enumerate(pages, start=1):
        assert "SAMPEL – data fiktif" in page_text, f"page {i}"
        assert re.search(rf"Halaman {i} / {len(pages)}", page_text)
    meta = PdfReader(io.BytesIO(pdf)).metadata
    assert meta.title == "Ringkasan konektivitas – Kabupaten Contoh (SAMPEL) (99.01)"

    # headline figures equal the analysis results
    assert "Kabupaten Contoh (SAMPEL)" in pages[0] and "kode 99.01" in pages[0]
    _check_headline(pages[0], villages)
    assert f"{len(villages)} kampung" in pages[0]

    # every kecamatan table, with every kampung
    text = " ".join(pages)
    kecamatan = areas[areas["level"] == "kecamatan"]
    assert len(kecamatan) == 5
    for k in kecamatan.itertuples():
        assert f"Kecamatan {k.nama} {k.kode}" in text
        assert f"{int((villages['kecamatan_kode'] == k.kode).sum())} kampung · " in text
    for v in villages.itertuples():
        assert f"{v.nama} {v.kode}" in text, v.kode

    # ranked gaps with their reasons
    assert "Peringkat kesenjangan terbesar" in text
    top = villages[villages["gap_class"] != "served"].sort_values("rank").head(3)
    for i, v in enumerate(top.itertuples(), start=1):
        assert re.search(rf"\b{i} {re.escape(v.nama)} {re.escape(v.kode)}", text)
        assert v.reasons_id.split("; ")[0] in text

    # register by agency and status
    assert "Register infrastruktur menurut OPD dan status" in text
    for phase in ("Sudah dilaksanakan", "Sedang dilaksanakan", "Akan dilaksanakan"):
        assert phase in text
    counts = [int((sites["status"] == st).sum()) for st in STATUSES]
    assert f"Jumlah {' '.join(map(str, counts))} {len(sites)}" in text

    # provenance and thresholds
    squeezed = re.sub(r"\s+", "", text)
    for entry in sample_project.config["sources"].values():
        assert entry["file"].rsplit("/", 1)[-1] in squeezed
    assert "lemah ≥ -105 dBm" in text and "90%" in text

    # no table row cut between pages; the header on every page a table spans
    rows, headers = _row_pages(doc)
    assert len(rows) > 60
    assert all(len(p) == 1 for p in rows.values())
    assert all(all(has for has in p.values()) for p in headers.values())


def _row_pages(doc):
    """{tr element: pages} for body rows and {table element: {page: has header}}."""
    from weasyprint.formatting_structure import boxes

    rows, headers = defaultdict(set), defaultdict(dict)

    def walk(box, page, table=None, header=False):
        if isinstance(box, boxes.TableBox):
            table = box.element
        if isinstance(box, boxes.TableRowGroupBox):
            header = box.is_header
        if isinstance(box, boxes.TableRowBox):
            if header:
                headers[table][page] = True
            else:
                rows[box.element].add(page)
                headers[table].setdefault(page, False)
        for child in getattr(box, "children", None) or []:
            walk(child, page, table, header)

    for i, page in enumerate(doc.pages):
        walk(page._page_box, i)
    return rows, headers


def test_long_tables_repeat_their_header(sample_project):
    """On small pages the tables must split: rows stay whole and the header repeats."""
    from weasyprint import CSS

    from geo_p2dd.report import render_document

    doc = render_document(sample_project, "99.01.02",
                          stylesheets=[CSS(string="@page { size: A6 !important }")])
    rows, headers = _row_pages(doc)
    assert all(len(pages) == 1 for pages in rows.values())
    split = [pages for pages in headers.values() if len(pages) > 1]
    assert split, "no table spans two A6 pages"
    assert all(all(has for has in pages.values()) for pages in split)


# -- the web pages -----------------------------------------------------------------------------

def test_index_lists_the_kabupaten_and_each_kecamatan(client, app, sample_project):
    with app.test_request_context():
        from flask import url_for

        assert url_for("reports.index") == "/report/"
    response = client.get("/report/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    _, areas, _ = _tables(sample_project)
    for code in ["99.01", *areas.loc[areas["level"] == "kecamatan", "kode"]]:
        assert f'href="/report/{code}"' in html and f'href="/report/{code}.pdf"' in html
    assert 'href="/report/register.xlsx"' in html
    assert "SAMPEL" in html


@pytest.fixture(scope="module")
def provinces_project(tmp_path_factory):
    """Eight villages in 2 provinces, 3 kabupaten and 4 kecamatan, analysed (no coverage)."""
    import geopandas as gpd
    import shapely

    from geo_p2dd.analysis import analyze_project
    from geo_p2dd.imports import init_project

    codes = ["97.01.01.2001", "97.01.01.2002", "98.01.01.2001", "98.01.02.2001",
             "98.01.02.2002", "98.02.01.2001", "98.02.01.2002", "98.02.01.2003"]
    frame = gpd.GeoDataFrame(
        {"kode": codes, "nama": [f"Desa {i}" for i in range(len(codes))]},
        geometry=[shapely.box(114.0 + 0.1 * i, 0.0, 114.1 + 0.1 * i, 0.1)
                  for i in range(len(codes))], crs="EPSG:4326")
    root = tmp_path_factory.mktemp("provinces")
    frame.to_file(root / "desa.gpkg", layer="desa", driver="GPKG")
    project, _ = init_project(root / "proj", villages=root / "desa.gpkg")
    analyze_project(project)
    return project


@pytest.fixture(scope="module")
def provinces_client(provinces_project):
    from web import create_app

    return create_app({"PROJECT": str(provinces_project.path), "TESTING": True}).test_client()


def _region_links(html: str) -> tuple[set[str], set[str]]:
    """Codes linked to an index of their own, and codes linked to a summary."""
    listed = set(re.findall(r'href="/report/\?in=([0-9.]+)"', html))
    summaries = set(re.findall(r'href="/report/([0-9.]+)"', html))
    return listed, summaries


def test_index_of_several_provinces_lists_provinces_then_kabupaten_then_kecamatan(
        provinces_client, provinces_project):
    areas = pyogrio.read_dataframe(provinces_project.results_path, layer="area_results",
                                   read_geometry=False)
    top = provinces_client.get("/report/")
    assert top.status_code == 200
    html = top.get_data(as_text=True)
    listed, summaries = _region_links(html)
    assert listed == {"97", "98"} and summaries == set()
    assert "98.01.01" not in html  # no kecamatan on the top page
    # each province's row shows its stored figures (kampung per province)
    rows = dict(re.findall(r'<td class="code">([0-9.]+)</td>\s*<td class="num">(\d+)</td>', html))
    stored = areas[areas["level"] == "provinsi"].set_index("kode")["villages"]
    assert rows == {k: str(v) for k, v in stored.items()}
    province = provinces_client.get("/report/?in=98").get_data(as_text=True)
    listed, summaries = _region_links(province)
    assert listed == {"98.01", "98.02"} and summaries == {"98.01", "98.02"}
    assert 'href="/report/98.01.pdf"' in province and "97.01" not in province
    kabupaten = provinces_client.get("/report/?in=98.01").get_data(as_text=True)
    listed, summaries = _region_links(kabupaten)
    assert listed == {"98"}  # the trail back to the province
    assert summaries == {"98.01", "98.01.01", "98.01.02"}
    assert provinces_client.get("/report/?in=96").status_code == 404
    assert provinces_client.get("/report/?in=98.01.01").status_code == 404


def test_index_rows_come_from_the_stored_area_figures():
    from web.reports import index_rows

    areas = pd.DataFrame({
        "level": ["kecamatan", "kecamatan", "kabupaten", "kabupaten", "provinsi", "region"],
        "kode": ["11.01.01", "11.01.02", "11.01", "11.02", "11", "all"],
        "nama": ["Satu", "Dua", "Aceh Selatan", "Kota X", "11", "Semua"],
        "villages": [3, 4, 7, 2, 9, 9], "n_blank_spot": [1, 2, 3, 0, 3, 3],
        "people_unserved": [10.4, 20.2, 30.6, 0.0, 30.6, 30.6]})
    scope, rows = index_rows(areas)  # one province, two kabupaten: the kabupaten
    assert scope is None
    assert [(r["region"].kode, r["villages"], r["classes"]["blank_spot"],
             r["people_unserved"], r["summary"], r["children"]) for r in rows] == [
        ("11.01", 7, 3, 31, True, True), ("11.02", 2, 0, 0, True, True)]
    scope, rows = index_rows(areas, "11.01")
    assert scope == "11.01"
    assert [r["region"].title() for r in rows] == [
        "Kabupaten Aceh Selatan", "Kecamatan Satu", "Kecamatan Dua"]
    one = areas[areas["kode"].isin(["11.01.01", "11.01", "11"])]
    assert [r["region"].kode for r in index_rows(one)[1]] == ["11.01", "11.01.01"]


def test_html_report_with_print_stylesheet(client):
    response = client.get("/report/99.01.03")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert '<html lang="id">' in html
    assert 'href="/report/static/report.css"' in html
    assert ".sw-blank_spot { background-color:#b2182b; }" in html  # colours from geo_p2dd.style
    assert "Kecamatan Batu Contoh" in html and "Penduduk belum terlayani" in html
    assert 'href="/report/99.01.03.pdf?lang=id"' in html
    img = re.search(r'<img src="([^"]+)"', html).group(1)
    assert img.startswith("/report/99.01.03/map.png")
    png = client.get(img.replace("&amp;", "&"))
    assert png.status_code == 200 and png.data[:8] == b"\x89PNG\r\n\x1a\n"
    with client.get("/report/static/report.css") as static:  # a file response: close it
        css = static.get_data(as_text=True)
    for rule in ("size: A4", "display: table-header-group", "break-inside: avoid",
                 "@media print"):
        assert rule in css, rule
    assert "http" not in css and "@import" not in css and "url(" not in css  # nothing external


def test_english_on_request(client):
    html = client.get("/report/99.01?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "People without service" in html and "Largest gaps, ranked" in html
    assert "Blank spot" in html and "Partial 4G" in html and "Penduduk" not in html


def test_pdf_endpoint(client, sample_project):
    response = client.get("/report/99.01.02.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "ringkasan_990102_id.pdf" in response.headers["Content-Disposition"]
    _assert_a4(response.data)
    pages = _pages(response.data)
    villages, _, _ = _tables(sample_project)
    _check_headline(pages[0], villages[villages["kecamatan_kode"] == "99.01.02"])
    assert all("SAMPEL – data fiktif" in p for p in pages)
    assert "Kecamatan Long Sampel 99.01.02" in " ".join(pages)


def test_head_draws_no_map(client, sample_project):
    from web.context import load_view

    response = client.head("/report/99.01.04/map.svg?lang=en")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    drawn = load_view(sample_project.path).extra.get("reports", {})
    assert not [k for k in drawn if k[:3] == ("map", "99.01.04", "svg")]
    assert client.head("/report/12.34/map.svg").status_code == 404


def test_unknown_region_is_a_404_page(client):
    for url in ("/report/12.34", "/report/12.34.pdf", "/report/99.01/map.gif"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"Traceback" not in response.data
    assert "99.01.01 (Hulu Contoh)" in client.get("/report/12.34").get_data(as_text=True)


def test_register_download(client, sample_project):
    response = client.get("/report/register.xlsx")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    wb = openpyxl.load_workbook(io.BytesIO(response.data))
    _, _, sites = _tables(sample_project)
    assert sum(wb[s].max_row - 1 for s in wb.sheetnames[2:]) == len(sites)
    part = client.get("/report/register.xlsx?region=99.01.03&lang=en")
    wb = openpyxl.load_workbook(io.BytesIO(part.data))
    assert wb.sheetnames[0] == "Summary"
    n = int(sites["village_kode"].str.startswith("99.01.03.").sum())
    assert sum(wb[s].max_row - 1 for s in wb.sheetnames[2:]) == n
    assert client.get("/report/register.xlsx?region=12.34").status_code == 404


def test_unanalysed_project(project, live_server_factory):
    import urllib.error
    import urllib.request

    server = live_server_factory(project.path)
    with urllib.request.urlopen(server.url + "/report/") as response:
        assert "geo-p2dd analyze" in response.read().decode("utf-8")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(server.url + "/report/99.01")
    assert err.value.code == 404
    assert "analyze" in err.value.read().decode("utf-8")


@pytest.mark.browser
def test_browser_prints_clean_a4_pages(sample_server, page):
    page.goto(sample_server.url + "/report/99.01.02")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.querySelector('figure.map img').naturalWidth") > 500
    assert page.is_visible(".report-tools")
    page.emulate_media(media="print")
    assert not page.is_visible(".report-tools")
    pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    _assert_a4(pdf)
    pages = _pages(pdf)
    assert "Kecamatan Long Sampel" in pages[0]
    assert all("SAMPEL" in p for p in pages)
    assert page.console_errors == []


# -- the command line ----------------------------------------------------------------------

def test_report_command(sample_project, tmp_path):
    out = tmp_path / "summary.pdf"
    result = CliRunner().invoke(main, ["report", "--project", str(sample_project.path),
                                       "--region", "99.01.05", "--out", str(out),
                                       "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "wrote the summary of 99.01.05 (en)" in result.output
    pdf = out.read_bytes()
    _assert_a4(pdf)
    pages = _pages(pdf)
    villages, _, _ = _tables(sample_project)
    _check_headline(pages[0], villages[villages["kecamatan_kode"] == "99.01.05"], lang="en")
    assert all("SAMPLE – fictitious data" in p for p in pages)
    bad = CliRunner().invoke(main, ["report", "--project", str(sample_project.path),
                                    "--region", "99.07", "--out", str(tmp_path / "x.pdf")])
    assert bad.exit_code == 1 and "choose one of" in bad.output
    assert not (tmp_path / "x.pdf").exists()


# -- the library renders without the web app --------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
# A CLI run in which the web framework cannot be imported at all.
NO_FLASK = """
import sys

class NoWeb:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("flask", "flask_babel", "werkzeug", "web"):
            raise ImportError(f"the library imported {name}")

sys.meta_path.insert(0, NoWeb())
from geo_p2dd.cli import main
main(sys.argv[1:], prog_name="geo-p2dd")
"""


def test_report_command_never_imports_flask(sample_project, tmp_path):
    blocked = subprocess.run([sys.executable, "-c", NO_FLASK.replace(
        "from geo_p2dd.cli import main\nmain(sys.argv[1:], prog_name=\"geo-p2dd\")",
        "import flask")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "the library imported flask" in blocked.stderr  # the blocker works
    out = tmp_path / "ringkasan.pdf"
    result = subprocess.run(
        [sys.executable, "-c", NO_FLASK, "report", "--project", str(sample_project.path),
         "--region", "99.01.04", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "wrote the summary of 99.01.04 (id)" in result.stdout
    pdf = out.read_bytes()
    _assert_a4(pdf)
    pages = _pages(pdf)
    villages, areas, _ = _tables(sample_project)
    name = areas.loc[areas["kode"] == "99.01.04", "nama"].iloc[0]
    assert f"Kecamatan {name}" in pages[0] and "kode 99.01.04" in pages[0]
    _check_headline(pages[0], villages[villages["kecamatan_kode"] == "99.01.04"])


def test_every_library_text_has_an_indonesian_translation():
    """msgids of the library's code and summary template all appear in geo_p2dd/translations/id."""
    from babel.messages.extract import extract_from_dir

    from geo_p2dd import i18n

    root = ROOT / "geo_p2dd"
    method_map = [("**.py", "python"), ("report/templates/**.html", "jinja2")]
    used = {m[2] if isinstance(m[2], str) else m[2][0]
            for m in extract_from_dir(str(root), method_map=method_map,
                                      keywords={"_": None, "gettext": None, "N_": None})}
    have = {m.id for m in i18n.merged_catalogue(i18n.TRANSLATIONS / "id") if m.id and m.string}
    assert len(used) > 100
    missing = sorted(u for u in used if u and u not in have)
    assert missing == [], f"untranslated: {missing[:10]}"
    assert i18n.gettext("People without service", "id") == "Penduduk belum terlayani"
    assert i18n.gettext("People without service", "en") == "People without service"


def test_numbers_follow_the_language():
    from geo_p2dd.i18n import format_int, format_km, format_pct

    assert (format_int(12345.4, "id"), format_int(12345.4, "en")) == ("12.345", "12,345")
    assert (format_pct(0.1234, "id", 1), format_pct(0.1234, "en", 1)) == ("12,3%", "12.3%")
    assert format_km(3.25, "id") == "3,2 km" and format_int(float("nan"), "id") == "–"


def test_numbers_are_babels_texts_formatted_once():
    """The memoised formats give Babel's own texts, the sign of zero included."""
    from babel.numbers import format_decimal, format_percent

    from geo_p2dd.i18n import format_int, format_number, format_pct

    values = [0, 0.0, -0.0, -0.04, 0.05, 2.5, 3, 1234.55, -98765.4321, 1e12]
    for lang in ("id", "en"):
        for v in values + values[::-1]:  # the second pass comes from the memo
            assert format_number(v, lang, 1) == format_decimal(v, "#,##0.0", locale=lang)
            assert format_number(v, lang, 0) == format_decimal(v, "#,##0", locale=lang)
            assert format_int(v, lang) == format_decimal(round(v), "#,##0", locale=lang)
            assert format_pct(v, lang, 1) == format_percent(v, "#,##0.0%", locale=lang)
    assert format_number(-0.0, "id", 1) == "-0,0" and format_number(0, "id", 1) == "0,0"


# -- one layout per summary, however many ask ----------------------------------------------

def test_concurrent_requests_lay_out_the_pdf_once(sample_project, tmp_path):
    from geo_p2dd.report import cached_pdf
    from geo_p2dd.report.pdf import RENDERS

    start = threading.Barrier(8)

    def ask(_):
        start.wait()
        return cached_pdf(sample_project, "99.01.01", lang="en", today="2026-01-02",
                          cache_dir=tmp_path)

    before = RENDERS.value
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(ask, range(8)))
    assert RENDERS.value - before == 1
    assert len(set(results)) == 1 and results[0][:5] == b"%PDF-"
    assert len(list(tmp_path.glob("*.pdf"))) == 1
    # kept on disk: asked again, nothing is laid out
    assert cached_pdf(sample_project, "99.01.01", lang="en", today="2026-01-02",
                      cache_dir=tmp_path) == results[0]
    assert RENDERS.value - before == 1


def test_web_pdf_is_laid_out_once_and_never_for_head(sample_copy, live_server_factory):
    """8 requests at once on a 4-thread server that lets 2 wait: one layout, shared; the
    requests that cannot wait are told to come back (503, Retry-After), leaving threads free."""
    from geo_p2dd.report.pdf import RENDERS

    server = live_server_factory(sample_copy.path, REPORT_PDF_WAITING=2)
    url = server.url + "/report/99.01.05.pdf"
    before = RENDERS.value
    head = urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=60)
    assert head.status == 200 and head.headers["Content-Type"] == "application/pdf"
    assert RENDERS.value == before
    start = threading.Barrier(8)

    def get(_):
        start.wait()
        try:
            with urllib.request.urlopen(url, timeout=300) as response:
                return response.read()
        except urllib.error.HTTPError as err:
            assert err.code == 503 and int(err.headers["Retry-After"]) > 0
            return None

    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(get, range(8)))
    assert RENDERS.value - before == 1
    pdfs = [b for b in bodies if b is not None]
    assert len(pdfs) >= 2 and None in bodies
    assert len(set(pdfs)) == 1 and pdfs[0][:5] == b"%PDF-"
    cached = list((sample_copy.path / "cache" / "summaries").glob("summary_990105_*.pdf"))
    assert len(cached) == 1
    # new data, new summary (and the old one is dropped)
    layers = sample_copy.layers_path
    os.utime(layers, ns=(layers.stat().st_atime_ns, layers.stat().st_mtime_ns + 10**9))
    assert urllib.request.urlopen(url, timeout=300).read()[:5] == b"%PDF-"
    assert RENDERS.value - before == 2
    assert list((sample_copy.path / "cache" / "summaries").glob("summary_990105_*.pdf")) \
        not in ([], cached)


# -- real data -------------------------------------------------------------------------------

@pytest.mark.shared_data
def test_real_mahakam_ulu_summary(tmp_path):
    from geo_p2dd.analysis import analyze_project
    from geo_p2dd.imports import init_project

    files = mahakam_ulu_files()
    project, _ = init_project(tmp_path / "mahakam-ulu", region="64.11", **files)
    analyze_project(project)
    out = tmp_path / "ringkasan.pdf"
    result = CliRunner().invoke(main, ["report", "--project", str(project.path), "--region",
                                       "64.11", "--out", str(out)])
    assert result.exit_code == 0, result.output
    pdf = out.read_bytes()
    _save_pngs(pdf, "report_mahakam_ulu_64.11")
    assert _assert_a4(pdf) >= 3
    pages = _pages(pdf)
    villages, areas, _ = _tables(project)
    assert len(villages) == 50
    assert "Kabupaten Mahakam Ulu" in pages[0] and "kode 64.11" in pages[0]
    _check_headline(pages[0], villages)
    text = " ".join(pages)
    assert not any("SAMPEL" in p for p in pages)
    for k in areas[areas["level"] == "kecamatan"].itertuples():
        assert f"Kecamatan {k.nama} {k.kode}" in text
    for v in villages.itertuples():
        assert v.kode in text
    assert "Ujoh Bilang" in text  # the regency seat
