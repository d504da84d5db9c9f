"""geo_p2dd: how connected Indonesia's villages are, where the gaps are, and why.

The library never imports Flask; the web app in ``web/`` is a thin layer over it.
"""

__version__ = "0.1.0"
