"""``python -m geo_p2dd.cli``: the ``geo-p2dd`` command line."""

from geo_p2dd.cli import main

main()
