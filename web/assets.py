"""Front-end assets: installed from the npm registry (package.json + lockfile),
copied into ``web/static/vendor`` and served by the app. No CDN, ever.

``python -m web.assets`` copies the files the pages use out of ``node_modules`` and
checks that the bundles build. Folium's CDN links are rewritten to these local copies
by :func:`localise`; any remaining external script or stylesheet is an error.

Bundles (satellite links: few round trips, long-lived caching). The app joins the
stylesheets and scripts a page needs into a few files (:data:`BUNDLES`), each named
by a hash of its content (``map-3f2a9c01d4e5.css``), once when it starts (milliseconds;
always in step with the files on disk), keeps them in memory with their gzip copy (and
a Brotli copy, about 13 % smaller, when the ``brotli`` package is installed) and serves
them under ``/assets/`` as ``public, max-age=31536000, immutable``: a browser
that has them never asks again, and a changed file gets a new name. Small images a
stylesheet points to (the full-screen icon) are inlined as ``data:`` URLs; others
point at the vendor copy.
With ``BUNDLE_ASSETS = False`` pages load the separate files as before (for
comparison, ``bench/satellite.py``).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import logging
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, current_app, request, url_for
from markupsafe import Markup, escape

try:  # optional: Brotli copies of the bundles (browsers ask for "br")
    import brotli
except ImportError:  # pragma: no cover - then gzip only
    brotli = None

ROOT = Path(__file__).resolve().parent.parent
STATIC = Path(__file__).resolve().parent / "static"
VENDOR = STATIC / "vendor"
log = logging.getLogger(__name__)

# node_modules path -> vendor path
FILES = {
    "leaflet/dist/leaflet.js": "leaflet/leaflet.js",
    "leaflet/dist/leaflet.css": "leaflet/leaflet.css",
    "leaflet/dist/images/layers.png": "leaflet/images/layers.png",
    "leaflet/dist/images/layers-2x.png": "leaflet/images/layers-2x.png",
    "leaflet/dist/images/marker-icon.png": "leaflet/images/marker-icon.png",
    "leaflet/dist/images/marker-icon-2x.png": "leaflet/images/marker-icon-2x.png",
    "leaflet/dist/images/marker-shadow.png": "leaflet/images/marker-shadow.png",
    "leaflet/LICENSE": "leaflet/LICENSE",
    "leaflet.markercluster/dist/leaflet.markercluster.js":
        "markercluster/leaflet.markercluster.js",
    "leaflet.markercluster/dist/MarkerCluster.css": "markercluster/MarkerCluster.css",
    "leaflet.markercluster/dist/MarkerCluster.Default.css":
        "markercluster/MarkerCluster.Default.css",
    "leaflet.markercluster/MIT-LICENCE.txt": "markercluster/MIT-LICENCE.txt",
    "leaflet.fullscreen/Control.FullScreen.js": "fullscreen/Control.FullScreen.js",
    "leaflet.fullscreen/Control.FullScreen.css": "fullscreen/Control.FullScreen.css",
    "leaflet.fullscreen/icon-fullscreen.svg": "fullscreen/icon-fullscreen.svg",
    "leaflet.fullscreen/LICENSE": "fullscreen/LICENSE",
}

# folium resource URL pattern -> local vendor path (None: not needed by our pages)
FOLIUM_URLS = [
    (r"leaflet@[\d.]+/dist/leaflet\.js", "leaflet/leaflet.js"),
    (r"leaflet@[\d.]+/dist/leaflet\.css", "leaflet/leaflet.css"),
    (r"leaflet\.markercluster/[\d.]+/leaflet\.markercluster\.js",
     "markercluster/leaflet.markercluster.js"),
    (r"leaflet\.markercluster/[\d.]+/MarkerCluster\.css", "markercluster/MarkerCluster.css"),
    (r"leaflet\.markercluster/[\d.]+/MarkerCluster\.Default\.css",
     "markercluster/MarkerCluster.Default.css"),
    (r"leaflet\.fullscreen@[\d.]+/Control\.FullScreen\.min\.js",
     "fullscreen/Control.FullScreen.js"),
    (r"leaflet\.fullscreen@[\d.]+/Control\.FullScreen\.css", "fullscreen/Control.FullScreen.css"),
    (r"jquery-[\d.]+\.min\.js", None),
    (r"bootstrap@[\d.]+/dist/js/bootstrap\.bundle\.min\.js", None),
    (r"bootstrap@[\d.]+/dist/css/bootstrap\.min\.css", None),
    (r"bootstrap-glyphicons\.css", None),
    (r"fontawesome-free@[\d.]+/css/all\.min\.css", None),
    (r"Leaflet\.awesome-markers/[\d.]+/leaflet\.awesome-markers\.(js|css)", None),
    (r"leaflet\.awesome\.rotate\.min\.css", None),
]

_TAG = re.compile(r'<(script|link)\b[^>]*?(?:src|href)="(https?://[^"]+)"[^>]*>(?:</script>)?',
                  re.I)


class ExternalAssetError(RuntimeError):
    """A page would load a script or stylesheet from outside the app."""


def localise(html: str, static_url: str, replace: dict[str, str] | None = None) -> str:
    """Rewrite folium's CDN script/link tags to local vendor files; drop unneeded ones.

    ``replace`` maps a vendor path (``leaflet/leaflet.js``) to the URL that serves it
    instead (a bundle), or to ``""`` when the page loads it already (its tag is dropped);
    a URL is emitted once.

    Raises
    ------
    ExternalAssetError
        For an external script or stylesheet that has no local copy.
    """
    replace = replace or {}
    emitted: set[str] = set()

    def repl(m: re.Match) -> str:
        url = m.group(2)
        for pattern, local in FOLIUM_URLS:
            if re.search(pattern, url):
                if local is None:
                    return ""
                target = replace.get(local, f"{static_url}vendor/{local}")
                if not target or target in emitted:
                    return ""
                emitted.add(target)
                return m.group(0).replace(url, target)
        raise ExternalAssetError(f"no local copy of {url}; add it to web/assets.py")

    return _TAG.sub(repl, html)


def install(node_modules: Path = ROOT / "node_modules", vendor: Path = VENDOR) -> int:
    """Copy the vendor files out of node_modules; returns the number copied."""
    missing = [src for src in FILES if not (node_modules / src).exists()]
    if missing:
        raise SystemExit(f"missing in {node_modules}: {', '.join(missing)}; run 'npm ci' first")
    for src, dst in FILES.items():
        target = vendor / dst
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(node_modules / src, target)
    return len(FILES)


# --- bundles -----------------------------------------------------------------------------

#: bundle -> its files under web/static, joined in this order. ``vendor/`` files are the
#: ones folium's header would load one by one; a page that uses a bundle drops those tags.
BUNDLES: dict[str, tuple[str, ...]] = {
    "app.css": ("app.css",),
    "map.css": ("app.css", "vendor/leaflet/leaflet.css",
                "vendor/fullscreen/Control.FullScreen.css", "map.css"),
    "leaflet.js": ("vendor/leaflet/leaflet.js", "vendor/fullscreen/Control.FullScreen.js"),
    "map.js": ("map.js",),
    "markercluster.css": ("vendor/markercluster/MarkerCluster.css",
                          "vendor/markercluster/MarkerCluster.Default.css"),
    "markercluster.js": ("vendor/markercluster/leaflet.markercluster.js",),
}
#: SVG images up to this size that a bundled stylesheet points to become ``data:`` URLs
#: (the full-screen button's icon, on every map; Leaflet's PNGs are for controls and
#: markers our maps do not show, so they stay files, fetched only if ever used)
INLINE_IMAGE_BYTES = 2048
IMMUTABLE = "public, max-age=31536000, immutable"
_MEDIA = {".css": "text/css", ".js": "application/javascript", ".svg": "image/svg+xml",
          ".png": "image/png"}
_CSS_URL = re.compile(r"""url\((['"]?)(?!data:|#|https?:|/)([^'")]+)\1\)""")


@dataclass(frozen=True)
class Bundle:
    """One bundle: its versioned file name, content, gzip (and Brotli) copy, media type."""

    name: str
    filename: str
    body: bytes
    gzipped: bytes
    mimetype: str
    sources: tuple[str, ...]
    brotli: bytes | None = None


def _css_urls(css: str, source: str, static: Path = STATIC) -> str:
    """Point a stylesheet's relative ``url()`` s at its vendor copy, or inline small images."""
    folder = Path(source).parent

    def repl(m: re.Match) -> str:
        rel = (folder / m.group(2)).as_posix()
        target = static / rel
        if target.exists() and target.stat().st_size <= INLINE_IMAGE_BYTES and \
                target.suffix == ".svg":
            data = base64.b64encode(target.read_bytes()).decode()
            return f'url("data:{_MEDIA[target.suffix]};base64,{data}")'
        return f'url("../static/{rel}")'  # served from /assets/: one level up is the root

    return _CSS_URL.sub(repl, css)


def build_bundles(static: Path = STATIC) -> dict[str, Bundle]:
    """Join the files of every bundle (:data:`BUNDLES`) and name each by its content.

    A bundle whose files are missing (``npm ci`` and ``python -m web.assets`` not run)
    is left out, with a warning: pages then load the separate files.
    """
    out = {}
    for name, sources in BUNDLES.items():
        missing = [s for s in sources if not (static / s).exists()]
        if missing:
            log.warning("asset bundle %s not built, missing %s: run 'make install'", name,
                        ", ".join(missing))
            continue
        parts = []
        for src in sources:
            text = (static / src).read_text(encoding="utf-8")
            if name.endswith(".css"):
                text = _css_urls(text, src, static)
            parts.append(f"/* {src} */\n{text.rstrip()}\n" if name.endswith(".css")
                         else f"/* {src} */\n{text.rstrip()}\n;\n")
        body = "".join(parts).encode("utf-8")
        stem, ext = name.rsplit(".", 1)
        digest = hashlib.sha256(body).hexdigest()[:12]
        out[name] = Bundle(name, f"{stem}-{digest}.{ext}", body,
                           gzip.compress(body, compresslevel=9, mtime=0),
                           _MEDIA["." + ext], sources,
                           brotli.compress(body, quality=11) if brotli is not None else None)
    return out


bp = Blueprint("assets", __name__)
#: bundles built in this process, by the state (mtime, size) of their files: each app made
#: here (a test suite makes hundreds) would otherwise spend ~0.4 s of a core on Brotli 11
_BUILT: dict[tuple, dict[str, Bundle]] = {}


def _built_bundles(static: Path = STATIC) -> dict[str, Bundle]:
    """:func:`build_bundles`, once per state of the bundled files in this process."""
    stamp = []
    for src in sorted({s for sources in BUNDLES.values() for s in sources}):
        try:
            st = (static / src).stat()
            stamp.append((src, st.st_mtime_ns, st.st_size))
        except FileNotFoundError:
            stamp.append((src, None, None))
    key = (str(static), tuple(stamp))
    if key not in _BUILT:
        _BUILT.clear()
        _BUILT[key] = build_bundles(static)
    return _BUILT[key]


def init_app(app: Flask) -> None:
    """Build the bundles, serve them under ``/assets/`` and give templates :func:`asset_tags`."""
    bundles = _built_bundles()
    app.extensions["geo_p2dd_assets"] = {
        "bundles": bundles, "files": {b.filename: b for b in bundles.values()}}
    app.register_blueprint(bp)
    app.jinja_env.globals.update(asset_tags=asset_tags, asset_url=asset_url)


def bundled(name: str) -> Bundle | None:
    """The bundle ``name`` when the app bundles assets and has built it, else None."""
    if not current_app.config.get("BUNDLE_ASSETS", True):
        return None
    return current_app.extensions["geo_p2dd_assets"]["bundles"].get(name)


def asset_url(name: str) -> str | None:
    """The versioned URL of bundle ``name`` (None when not bundled)."""
    b = bundled(name)
    return url_for("assets.bundle", filename=b.filename) if b is not None else None


def asset_tags(name: str, defer: bool = False, separate: str = "own",
               inline: bool = False) -> Markup:
    """The ``<link>`` or ``<script>`` tag(s) of bundle ``name``.

    Bundled: one tag of the versioned file, or with ``inline`` the bundle itself in the
    page (:func:`inline_wanted`). Not bundled: one tag per file; with ``separate="own"``
    only our files (folium's header loads the vendor ones).
    """
    b = bundled(name)
    if b is not None and inline:
        return _inline(b)
    if b is not None:
        urls = [url_for("assets.bundle", filename=b.filename)]
    else:
        urls = [url_for("static", filename=s) for s in BUNDLES[name]
                if separate != "own" or not s.startswith("vendor/")]
    # deferred, a script would wait behind the page's other files (Chromium delays
    # low-priority requests while those are in flight): one more transfer on a slow link
    attr = ' defer fetchpriority="high"' if defer else ""
    if name.endswith(".css"):
        tags = [f'<link rel="stylesheet" href="{escape(u)}">' for u in urls]
    else:
        tags = [f'<script src="{escape(u)}"{attr}></script>' for u in urls]
    return Markup("\n".join(tags))


def inline_wanted() -> bool:
    """Whether this page request should carry its bundles in the page itself.

    On a satellite link each round trip costs about 600 ms, and the files a page
    references are asked for only once its first bytes are in: a second round trip
    before the map can be drawn. A browser that comes to the app from outside (typed
    address, bookmark, a link in another site or an e-mail: ``Sec-Fetch-Site`` other
    than ``same-origin``) most likely does not hold the bundles, so its page carries
    them, in one round trip; the page then asks for the versioned files in the
    background once loaded (:func:`prefetch_urls`), so the app's next pages find them in
    the browser's cache. A navigation inside the app, or a client that does not say
    (no ``Sec-Fetch-*`` headers), gets the tags of the versioned files.
    """
    if not current_app.config.get("BUNDLE_ASSETS", True) or \
            not current_app.config.get("INLINE_ASSETS", True):
        return False
    return request.headers.get("Sec-Fetch-Dest") == "document" and \
        request.headers.get("Sec-Fetch-Site", "same-origin") != "same-origin"


def _inline(b: Bundle) -> Markup:
    """Bundle ``b`` in the page: a ``<style>`` block, or a script with the page's nonce."""
    from web.security import NONCE_PLACEHOLDER

    text = b.body.decode("utf-8")
    if b.name.endswith(".css"):
        if "</style" in text.lower():
            raise ValueError(f"bundle {b.name} cannot be inlined (holds </style)")
        # url()s point one level up from /assets/; in the page they must be absolute
        text = text.replace('url("../static/', 'url("' + url_for("static", filename=""))
        return Markup(f"<style>{text}</style>")
    if "</script" in text.lower() or "<!--" in text:
        raise ValueError(f"bundle {b.name} cannot be inlined (holds </script or <!--)")
    return Markup(f'<script nonce="{NONCE_PLACEHOLDER}">{text}</script>')


def prefetch_urls(*names: str) -> list[str]:
    """The versioned URLs of bundles ``names`` (those built), for a page that carried
    them inline to ask for in the background (``<link rel="prefetch">``)."""
    return [u for u in (asset_url(n) for n in names) if u is not None]


#: bundles every map page loads itself (its template's tags), and those folium asks for
PAGE_BUNDLES = ("map.css", "leaflet.js")
ON_DEMAND_BUNDLES = ("markercluster.css", "markercluster.js")


def folium_replacements() -> dict[str, str]:
    """For :func:`localise`: vendor files the map page's bundles hold (dropped) or that
    an on-demand bundle serves (its URL). Empty when assets are not bundled."""
    out = {}
    for name in PAGE_BUNDLES + ON_DEMAND_BUNDLES:
        url = asset_url(name)
        if url is None:
            continue
        for src in BUNDLES[name]:
            if src.startswith("vendor/"):
                out[src.removeprefix("vendor/")] = "" if name in PAGE_BUNDLES else url
    return out


@bp.get("/assets/<filename>")
def bundle(filename: str):
    """A bundle by its versioned name: cached for a year as immutable; Brotli or gzip when
    accepted."""
    b = current_app.extensions["geo_p2dd_assets"]["files"].get(filename)
    if b is None:
        abort(404)
    accepted = request.accept_encodings
    if b.brotli is not None and accepted["br"]:
        resp = Response(b.brotli, mimetype=b.mimetype)
        resp.headers["Content-Encoding"] = "br"
    elif accepted["gzip"]:
        resp = Response(b.gzipped, mimetype=b.mimetype)
        resp.headers["Content-Encoding"] = "gzip"
    else:
        resp = Response(b.body, mimetype=b.mimetype)
    resp.vary.add("Accept-Encoding")
    resp.headers["Cache-Control"] = IMMUTABLE
    resp.set_etag(filename.rsplit("-", 1)[1].split(".")[0])
    return resp.make_conditional(request)


if __name__ == "__main__":  # pragma: no cover
    n = install()
    print(f"copied {n} asset files into {VENDOR}", file=sys.stderr)
    for b in build_bundles().values():
        print(f"bundle {b.filename}: {len(b.body) / 1e3:.1f} kB, {len(b.gzipped) / 1e3:.1f} kB "
              f"gzip", file=sys.stderr)
