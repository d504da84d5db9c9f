"""Security headers on every response, and the per-request nonce of our inline scripts.

The app serves every script, stylesheet and font itself, so the Content-Security-Policy
allows only ``'self'`` for them. Folium emits inline ``<script>`` blocks; instead of
``'unsafe-inline'`` each inline script we emit carries a nonce that is new on every
request. Pages are rendered (and may be cached) with :data:`NONCE_PLACEHOLDER`, a token
random per process that never reaches a client; :func:`apply` swaps it for the request's
nonce just before the response leaves. Injected markup cannot guess either value, so an
injected ``<script>`` does not run.

Styles keep ``'unsafe-inline'``: Leaflet popups and our legends set ``style``
attributes, and a nonce would disable those (CSS cannot run script).

Basemap tiles are the only outside resources: their hosts are allowed as images only
when the visitor's basemap is not ``"none"`` (the offline mode then is enforced by the
browser too). The map is not framed (folium writes it into the page, no iframe), so
framing is denied altogether.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

from flask import Response

NONCE_PLACEHOLDER = "n" + secrets.token_hex(16)
"""Stands for the request's nonce in rendered HTML (random per process, never sent)."""

# inline event handlers kept in templates we do not own, allowed by hash (CSP 'unsafe-hashes')
INLINE_HANDLERS = ("window.print()",)

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",  # OSM tiles need the origin
    "Cross-Origin-Opener-Policy": "same-origin",
}

_SCRIPT_TAG = re.compile(r"<script\b(?![^>]*\b(?:src|nonce)=)", re.I)


def _hash(source: str) -> str:
    digest = hashlib.sha256(source.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


def content_security_policy(nonce: str | None, image_hosts: tuple[str, ...] = (),
                            hashes: tuple[str, ...] = ()) -> str:
    """The policy of an HTML page.

    Parameters
    ----------
    nonce : str or None
        The nonce of the page's inline scripts (None: no inline script may run, but
        those of ``hashes``).
    image_hosts : tuple of str
        Origins allowed as images besides the app (basemap tile servers).
    hashes : tuple of str
        Hash sources of the page's inline scripts (:func:`hash_scripts`).
    """
    script = ["'self'"]
    if nonce:
        script.append(f"'nonce-{nonce}'")
    script += hashes
    script += ["'unsafe-hashes'", *(_hash(h) for h in INLINE_HANDLERS)]
    directives = {
        "default-src": ["'self'"],
        "script-src": script,
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", *image_hosts],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{k} {' '.join(v)}" for k, v in directives.items())


# anything that is not a page: nothing may load from it, nobody may frame it
OTHER_POLICY = "default-src 'none'; frame-ancestors 'none'"
# Chrome's PDF viewer is a plugin the PDF response's own policy would block
PDF_POLICY = "frame-ancestors 'none'"


def nonce_scripts(html: str) -> str:
    """Add the nonce placeholder to every inline ``<script>`` tag of trusted ``html``.

    For markup we generate (folium's header), never for text that holds user data.
    """
    return _SCRIPT_TAG.sub(f'<script nonce="{NONCE_PLACEHOLDER}"', html)


def hash_scripts(html: str) -> tuple[str, tuple[str, ...]]:
    """Trusted ``html`` whose inline scripts are allowed by their hashes, not a nonce.

    A page made once and sent to many (the kept map pages) is then the same bytes on
    every request, so its best compressed copy can be kept (:mod:`web.compression`),
    and its policy names each script it carries: an injected script matches none.

    Returns
    -------
    html : str
        ``html`` without the nonce placeholder of its inline scripts.
    hashes : tuple of str
        Their hash sources, for :func:`content_security_policy`.
    """
    opening = f'<script nonce="{NONCE_PLACEHOLDER}"'
    parts, hashes, at = [], {}, 0
    while (start := html.find(opening, at)) >= 0:
        body = html.index(">", start) + 1
        end = html.index("</script>", body)
        parts += [html[at:start], "<script", html[start + len(opening):end]]
        hashes[_hash(html[body:end])] = None
        at = end
    parts.append(html[at:])
    return "".join(parts), tuple(hashes)


def apply(response: Response, image_hosts: tuple[str, ...] = ()) -> Response:
    """Set the security headers, and give an HTML page this request's nonce.

    A ``304 Not Modified`` gets no policy: the browser keeps the one it stored with the
    page (whose scripts carry that response's nonce); a new one would block them.
    """
    if response.status_code == 304:
        return response
    response.headers.update({k: v for k, v in HEADERS.items() if k not in response.headers})
    mimetype = response.mimetype or ""
    if mimetype == "text/html":
        nonce = None
        if not (response.direct_passthrough or response.is_streamed):
            data = response.get_data()
            if NONCE_PLACEHOLDER.encode() in data:
                nonce = secrets.token_urlsafe(16)
                response.set_data(data.replace(NONCE_PLACEHOLDER.encode(), nonce.encode()))
        policy = content_security_policy(nonce, image_hosts)
    elif mimetype == "application/pdf":
        policy = PDF_POLICY
    else:
        policy = OTHER_POLICY
    response.headers.setdefault("Content-Security-Policy", policy)
    return response
