"""Front-end assets: installed from the npm registry (package.json + lockfile),
copied into ``web/static/vendor`` and served by the app. No CDN, ever.

``python -m web.assets`` copies the files the pages use out of ``node_modules``.
Folium's CDN links are rewritten to these local copies by :func:`localise`;
any remaining external script or stylesheet is an error.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = Path(__file__).resolve().parent / "static" / "vendor"

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


def localise(html: str, static_url: str) -> str:
    """Rewrite folium's CDN script/link tags to local vendor files; drop unneeded ones.

    Raises
    ------
    ExternalAssetError
        For an external script or stylesheet that has no local copy.
    """

    def repl(m: re.Match) -> str:
        url = m.group(2)
        for pattern, local in FOLIUM_URLS:
            if re.search(pattern, url):
                if local is None:
                    return ""
                return m.group(0).replace(url, f"{static_url}vendor/{local}")
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


if __name__ == "__main__":  # pragma: no cover
    n = install()
    print(f"copied {n} asset files into {VENDOR}", file=sys.stderr)
