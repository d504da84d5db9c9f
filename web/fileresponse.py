"""Responses that stream a file already opened: conditional GET, resume, no surprises.

:func:`file_response` sends an open file (a reader keeps its file even if the
cache prunes it meanwhile) with ETag and Last-Modified, answering:

* ``If-None-Match``/``If-Modified-Since`` that still match: 304, no body;
* ``If-Match`` that does not match the current ETag: 412, no body;
* one byte range: 206 with that part (an interrupted download resumes);
* several ranges (a multipart request): 200 with the whole file, as RFC 9110
  allows, rather than 416;
* a range that cannot be satisfied: 416.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import BinaryIO

from flask import Response, current_app, request
from werkzeug.wsgi import wrap_file

EMPTY_STATUSES = (304, 412)


def file_response(fh: BinaryIO, *, mimetype: str, download_name: str, etag: str,
                  last_modified: dt.datetime) -> Response:
    """A download response streaming ``fh`` (closed by the response, or here when unused).

    Parameters
    ----------
    fh : binary file
        Open for reading, positioned at the start.
    mimetype, download_name : str
        Media type and the attachment's file name.
    etag : str
        Strong ETag of the content.
    last_modified : datetime
        When the content last changed.
    """
    size = os.fstat(fh.fileno()).st_size
    environ = dict(request.environ)
    # werkzeug answers If-Match with 412 when it *does* match; decide here instead
    environ.pop("HTTP_IF_MATCH", None)
    if request.if_match and etag not in request.if_match:
        fh.close()
        response = current_app.response_class(status=412)
        response.set_etag(etag)
        return response
    ranges = request.range
    if ranges is not None and len(ranges.ranges) != 1:
        environ.pop("HTTP_RANGE", None)
    response = current_app.response_class(wrap_file(request.environ, fh), mimetype=mimetype,
                                          direct_passthrough=True)
    response.content_length = size
    response.headers.set("Content-Disposition", "attachment", filename=download_name)
    response.set_etag(etag)
    response.last_modified = last_modified
    response.cache_control.no_cache = True  # always revalidate: cheap with the ETag
    try:
        response.make_conditional(environ, accept_ranges=True, complete_length=size)
    except Exception:
        fh.close()
        raise
    if response.status_code in EMPTY_STATUSES:
        fh.close()
        response.response = []
        response.headers.pop("Content-Length", None)
    return response
