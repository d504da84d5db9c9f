"""What a site costs: capex plus yearly opex over a horizon, per technology.

The prices are settings (``[costs]`` in ``project.toml``, defaults and their
sources in :class:`geo_p2dd.config.CostSettings`); this module only adds them
up, so a plan and a scenario always price a site the same way.
"""

from __future__ import annotations

from geo_p2dd.config import CostSettings
from geo_p2dd.errors import InputError
from geo_p2dd.schema import SITE_KINDS

#: site kinds a plan or scenario may add (a subset of the schema's site kinds)
PLAN_KINDS = tuple(k for k in ("starlink", "vsat", "bts", "wifi") if k in SITE_KINDS.ids)


def check_kinds(kinds: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Planning kinds from ``"starlink,bts"`` or a list; unknown names raise InputError."""
    if isinstance(kinds, str):
        kinds = [k.strip() for k in kinds.split(",") if k.strip()]
    out = tuple(dict.fromkeys(kinds))
    bad = [k for k in out if k not in PLAN_KINDS]
    if bad or not out:
        raise InputError("unknown technology for a plan", column="technologies",
                         expected="one or more of " + ", ".join(PLAN_KINDS),
                         found=", ".join(bad) or "nothing")
    return out


def site_cost(kind: str, costs: CostSettings, years: int) -> float:
    """Total cost (IDR) of one site of ``kind``: capex + ``years`` x yearly opex.

    Examples
    --------
    >>> from geo_p2dd.config import DEFAULTS
    >>> site_cost("starlink", DEFAULTS.costs, 5)
    55000000.0
    """
    if kind not in PLAN_KINDS:
        raise InputError("no cost for this site kind", column="kind",
                         expected="one of " + ", ".join(PLAN_KINDS), found=repr(kind))
    if years < 0:
        raise InputError("the horizon must not be negative", column="horizon_years",
                         expected="years >= 0", found=str(years))
    return costs.capex(kind) + years * costs.opex(kind)
