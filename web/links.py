"""Absolute links that never trust an arbitrary ``Host`` header.

OGC API documents and the downloads page link with absolute URLs. Copying the
request's ``Host`` header into them would let anyone who can reach the server
(or poison a cache in front of it) plant links to another site. The base of
every absolute link is therefore, in this order:

1. ``PUBLIC_URL`` (``GEO_P2DD_PUBLIC_URL``), e.g. ``https://p2dd.example.go.id``;
2. ``SERVER_NAME`` (``GEO_P2DD_SERVER_NAME``), with the request's scheme;
3. the request's host, only when it is in ``TRUSTED_HOSTS`` (``GEO_P2DD_TRUSTED_HOSTS``,
   a JSON list; default :data:`DEFAULT_TRUSTED_HOSTS`);
4. otherwise none: the link is relative to the site root (``/ogcapi/...``).
"""

from __future__ import annotations

from flask import current_app, request, url_for
from werkzeug.sansio.utils import host_is_trusted

DEFAULT_TRUSTED_HOSTS = ("localhost", "127.0.0.1", "::1")


def trusted_hosts() -> list[str]:
    """Hosts whose ``Host`` header may be copied into links."""
    configured = current_app.config.get("TRUSTED_HOSTS")
    return list(configured) if configured else list(DEFAULT_TRUSTED_HOSTS)


def link_base() -> str:
    """``scheme://host[:port]`` for absolute links, or '' for links relative to the root."""
    public = current_app.config.get("PUBLIC_URL")
    if public:
        return str(public).rstrip("/")
    server_name = current_app.config.get("SERVER_NAME")
    if server_name:
        return f"{request.scheme}://{server_name}"
    if host_is_trusted(request.host, trusted_hosts()):
        return request.host_url.rstrip("/")
    return ""


def external_url(endpoint: str, **values) -> str:
    """The URL of ``endpoint`` on a trusted base (see the module docstring)."""
    return link_base() + url_for(endpoint, **values)


#: the highest page number a listing accepts (a larger one shows this page: empty)
MAX_PAGE = 1_000_000


def page_arg() -> int:
    """The ``?page=`` of a paginated listing: 1 when absent or not a number, at most
    :data:`MAX_PAGE` (a huge number would overflow the database's OFFSET)."""
    try:
        return min(MAX_PAGE, max(1, int(request.args.get("page", 1))))
    except ValueError:
        return 1
