"""``serve``: the web app under waitress, with the limits it defaults to."""

from __future__ import annotations

import click

from geo_p2dd.cli.common import friendly, project_option, project_path
from geo_p2dd.errors import GeoP2DDError

PROXY_HEADERS = "x-forwarded-for x-forwarded-host x-forwarded-proto x-forwarded-port"


def server_options(*, threads: int = 8, connection_limit: int = 1000, channel_timeout: int = 30,
                   max_request_body: int = 64 * 1024 * 1024, trusted_proxy: str | None = None,
                   trusted_proxy_headers: str = PROXY_HEADERS) -> dict:
    """Keyword arguments for waitress, with the limits ``serve`` defaults to.

    waitress's own defaults let 100 idle or half-open sockets (its connection limit)
    lock everyone out for two minutes (its channel timeout); ours keep room for many
    more and drop idle connections after ``channel_timeout`` seconds. ``poll()`` instead
    of ``select()`` lifts the 1,024-descriptor ceiling of ``select``.
    """
    options = {"threads": threads, "connection_limit": connection_limit,
               "channel_timeout": channel_timeout,
               "cleanup_interval": max(1, min(30, channel_timeout // 3)),
               "max_request_body_size": max_request_body, "asyncore_use_poll": True,
               "ident": "geo_p2dd"}
    if trusted_proxy:
        options.update(trusted_proxy=trusted_proxy, trusted_proxy_headers=trusted_proxy_headers,
                       clear_untrusted_proxy_headers=True)
    return options


def _raise_open_files_limit(wanted: int) -> None:
    """Raise the soft limit of open files towards ``wanted`` (each connection holds one)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < wanted:
            click.echo(f"warning: at most {target} open files (ulimit -n); lower "
                       "--connection-limit or raise the limit", err=True)


@click.command()
@project_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256),
              help="Requests handled at the same time.")
@click.option("--connection-limit", default=1000, show_default=True,
              type=click.IntRange(1, 100_000),
              help="Open connections (idle ones included) before new ones wait.")
@click.option("--channel-timeout", default=30, show_default=True, type=click.IntRange(1),
              help="Seconds an idle or stalled connection is kept open.")
@click.option("--max-request-body", default=64 * 1024 * 1024, show_default=True,
              type=click.IntRange(0), help="Largest request body in bytes (larger: 413).")
@click.option("--trusted-proxy", default=None, metavar="IP",
              help="Address of a reverse proxy whose X-Forwarded-* headers are believed "
                   "('*' for any; only behind a firewall).")
@click.option("--trusted-proxy-headers", default=PROXY_HEADERS, show_default=True,
              help="Which X-Forwarded-* headers of the trusted proxy to use.")
@click.option("--public-url", default=None, metavar="URL",
              help="The address people use (https://peta.example.go.id); absolute links "
                   "(OGC API, downloads) start with it. Without it they use the request's "
                   "host only when it is localhost, else they are relative.")
@friendly
def serve(project_dir, host, port, threads, connection_limit, channel_timeout,
          max_request_body, trusted_proxy, trusted_proxy_headers, public_url) -> None:
    """Serve the web app for a project with a production WSGI server (waitress).

    For the internet, put it behind a reverse proxy (TLS, rate limits): see the
    README, "Running behind a reverse proxy".

    \b
    Example:
      geo-p2dd serve --project data/sample --port 5000
      geo-p2dd serve --project /srv/mahulu --trusted-proxy 127.0.0.1 \
        --public-url https://peta.example.go.id
    """
    from waitress import serve as waitress_serve

    from geo_p2dd.project import Project
    from web import create_app

    project = Project(project_path(project_dir))
    config = {"PROJECT": str(project.path)}
    if public_url:
        if not public_url.startswith(("http://", "https://")):
            raise GeoP2DDError(f"--public-url must start with http:// or https://, found "
                               f"{public_url!r}")
        config["PUBLIC_URL"] = public_url
    app = create_app(config)
    options = server_options(threads=threads, connection_limit=connection_limit,
                             channel_timeout=channel_timeout,
                             max_request_body=max_request_body, trusted_proxy=trusted_proxy,
                             trusted_proxy_headers=trusted_proxy_headers)
    _raise_open_files_limit(connection_limit + 256)
    click.echo(f"serving {project.name} on http://{host}:{port}/ ({threads} threads, up to "
               f"{connection_limit} connections, idle ones closed after {channel_timeout} s)")
    waitress_serve(app, host=host, port=port, **options)
