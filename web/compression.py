"""Compressed text responses for slow links (VSAT, Starlink): Brotli when the browser
accepts it, else gzip.

A page is compressed quickly on the request that makes it (Brotli quality 5, gzip 6);
a body asked for a second time — the village data of a view, a download's JSON — is
then given its best Brotli copy (quality 11, about a quarter smaller than gzip), made
once in a background thread and kept by the body's digest for the requests after.
Bodies seen once (most pages carry a fresh script nonce each time) never cost that
work; the kept map pages, the same bytes each time (``web/maps.py``), get best copies
up to a larger size.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

try:  # optional: without it, gzip only
    import brotli
except ImportError:  # pragma: no cover
    brotli = None

#: Brotli quality on the request itself (fast: about gzip's time, ~10 % smaller)
QUICK_QUALITY = 5
#: Brotli quality of the kept copies (slow to make, smallest to send)
BEST_QUALITY = 11
#: bodies smaller than this are not worth a best copy
BEST_MIN_BYTES = 16 * 1024
#: nor larger ones (quality 11 makes about 0.5 MB a second: at most half a second of a core)
BEST_MAX_BYTES = 256 * 1024
#: how many best copies are kept (least recently used dropped)
BEST_KEPT = 64

_lock = threading.Lock()
#: digests of bodies asked for once (a second time starts their best copy)
_seen: OrderedDict[bytes, None] = OrderedDict()
SEEN_KEPT = 1024
#: digest -> best copy (None while it is being made)
_best: OrderedDict[bytes, bytes | None] = OrderedDict()
_maker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="brotli")


def _make_best(digest: bytes, data: bytes) -> None:
    packed = brotli.compress(data, quality=BEST_QUALITY)
    with _lock:
        if digest in _best:
            _best[digest] = packed


def encode(data: bytes, accepted, best_max_bytes: int = BEST_MAX_BYTES
           ) -> tuple[bytes, str] | None:
    """``data`` compressed for a client whose ``Accept-Encoding`` is ``accepted``
    (werkzeug's parsed header): (body, encoding), or None when it takes neither.
    ``best_max_bytes``: the largest body given a best copy (a page sent to many)."""
    if brotli is not None and accepted["br"]:
        if BEST_MIN_BYTES <= len(data) <= best_max_bytes:
            digest = hashlib.blake2b(data, digest_size=16).digest()
            with _lock:
                if digest in _best:
                    _best.move_to_end(digest)
                    if _best[digest] is not None:
                        return _best[digest], "br"
                elif digest in _seen:  # the second time: make its best copy
                    del _seen[digest]
                    _best[digest] = None
                    while len(_best) > BEST_KEPT:
                        _best.popitem(last=False)
                    _maker.submit(_make_best, digest, data)
                else:
                    _seen[digest] = None
                    while len(_seen) > SEEN_KEPT:
                        _seen.popitem(last=False)
        return brotli.compress(data, quality=QUICK_QUALITY), "br"
    if accepted["gzip"]:
        return gzip.compress(data, compresslevel=6, mtime=0), "gzip"
    return None
